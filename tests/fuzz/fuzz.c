#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

int fuzz_file_open(const char *name, char *path)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

void fuzz_file_set(int fd, const void *data, size_t size)
{
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    const char *p = data;
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(fd, p + done, size - done, (off_t)done);
        FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
}

void fuzz_quiet(void)
{
    rc_log_setup(RC_LOG_ERROR, 0);
}
