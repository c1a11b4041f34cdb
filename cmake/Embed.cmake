# embed_files(OUT name1 file1 [name2 file2 ...]): compile text files into a C source
# as NUL-terminated `const char name[]` arrays (the schema and migrations).
function(embed_files out)
  set(args ${ARGN})
  set(deps)
  list(LENGTH args n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 1 ${last} 2)
    list(GET args ${i} f)
    list(APPEND deps ${f})
  endforeach()
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} "-DARGS=${args}" -P ${CMAKE_SOURCE_DIR}/cmake/EmbedRun.cmake
    DEPENDS ${deps} ${CMAKE_SOURCE_DIR}/cmake/EmbedRun.cmake VERBATIM)
endfunction()
