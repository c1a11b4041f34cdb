# Warning and hardening flags for every target, and the sanitizer build option.
add_compile_options(-Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes
  -Werror=strict-prototypes -Wformat=2 -Wpointer-arith -Wcast-qual -Wwrite-strings
  -Wvla -fstack-protector-strong -fno-common)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug" AND NOT POPAUTH_SANITIZE)
  add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
if(POPAUTH_WERROR)
  add_compile_options(-Werror)
endif()
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
if(POPAUTH_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(POPAUTH_FUZZ)
  # Instrument every library for coverage, so libFuzzer sees inside the parsers.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
