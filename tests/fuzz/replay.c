/*
 * replay - the main() that turns a libFuzzer target into a plain regression test: it
 * feeds every file of the corpus directories (or single files) named on the command
 * line to LLVMFuzzerTestOneInput, so that the seed corpus runs in every ctest build.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (16 * 1024 * 1024)

/* replay_file - run the target once over the contents of path; -1 if unreadable */
static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf;
    size_t n;

    if (fp == NULL) {
        perror(path);
        return -1;
    }
    buf = malloc(REPLAY_MAX_INPUT);
    if (buf == NULL) {
        fclose(fp);
        return -1;
    }
    n = fread(buf, 1, REPLAY_MAX_INPUT, fp);
    fclose(fp);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

/* main - replay every input named by argv; fail if none was found */
int main(int argc, char **argv)
{
    int i, runs = 0;

    for (i = 1; i < argc; i++) {
        struct stat sb;
        DIR *dir;
        struct dirent *de;

        if (stat(argv[i], &sb) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(sb.st_mode)) {
            if (replay_file(argv[i]) < 0)
                return 1;
            runs++;
            continue;
        }
        if ((dir = opendir(argv[i])) == NULL) {
            perror(argv[i]);
            return 1;
        }
        while ((de = readdir(dir)) != NULL) {
            char path[4096];
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            if (replay_file(path) < 0) {
                closedir(dir);
                return 1;
            }
            runs++;
        }
        closedir(dir);
    }
    printf("replayed %d inputs\n", runs);
    return runs > 0 ? 0 : 1;
}
