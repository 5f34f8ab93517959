/*
 * fuzz.h - what the libFuzzer harnesses of tests/fuzz share.
 *
 * FUZZ_CHECK(cond) aborts with the file, line and condition when a
 * harness's check of a header's promise fails, so that libFuzzer saves the
 * input as a crash like any sanitizer finding. fuzz_file_* hand an input
 * to a reader that takes a path: a memfd rewritten per input and opened
 * through /proc/self/fd, so no input touches the disk.
 */
#ifndef EDGEREC_FUZZ_H
#define EDGEREC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                                     \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                          \
            abort();                                                                                          \
        }                                                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memory file named `name` (for messages); its path goes into path
 * (room for 64 bytes). Aborts when memfd_create fails. */
int fuzz_file_open(const char *name, char *path);

/* Replace the file's contents with data[0, size). Aborts on failure. */
void fuzz_file_set(int fd, const void *data, size_t size);

/* Keep only rc_log's errors (the readers log their bad lines as warnings). */
void fuzz_quiet(void);

#endif
