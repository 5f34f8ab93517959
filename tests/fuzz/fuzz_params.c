/*
 * fuzz_params.c - recbuild's --params file reader (schemas/params.md, "The
 * parameter file") on any file, read from a memfd.
 *
 * The reader is recbuild.c's own (static) code: this harness includes
 * recbuild.c with its main renamed, so it tests exactly what recbuild
 * runs. The first byte says which parameters were "given as flags"; the
 * rest is the file. An accepted file must leave every flag's value as it
 * was, put every value it set within its flag's range, and keep
 * popularity's half-life (--half-life-days) apart from CF's. A refused one
 * is named, with its line, at the start of the message.
 *
 * Lines are read whole, however long: a file whose every line is a
 * comment or blank sets nothing (a 511-byte comment followed by
 * "factors = 7" once set factors, when lines were read in pieces).
 */
#define main recbuild_main
#include "recbuild.c"
#undef main

#include "fuzz.h"

/* The value of a tunable option in c (opt.h: they are numbers). */
static double option_value(const struct rb_config *c, const struct rc_opt *o)
{
    const char *field = (const char *)c + o->off;
    switch (o->type) {
    case RC_OPT_U32:
        return *(const uint32_t *)(const void *)field;
    case RC_OPT_F32:
        return *(const float *)(const void *)field;
    case RC_OPT_F64:
        return *(const double *)(const void *)field;
    default:
        FUZZ_CHECK(!"a tunable option of an unexpected type");
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fuzz_quiet();
        fd = fuzz_file_open("params.txt", path);
    }
    if (size < 1)
        return 0;
    fuzz_file_set(fd, data + 1, size - 1);

    struct rb_config def, c;
    config_default(&def);
    config_default(&c);
    c.params = path;
    c.given = data[0] & RB_PARAM_ALL;
    char err[RC_ERRMSG_MAX];
    int rc = read_params(&c, err);
    if (rc != 0) {
        FUZZ_CHECK(rc == RC_EFORMAT || rc == RC_ERANGE);
        FUZZ_CHECK(strstr(err, path) == err); /* names the file (and line) */
        return 0;
    }
    FUZZ_CHECK((c.from_file & ~(unsigned)RB_PARAM_ALL) == 0 && (c.from_file & c.given) == 0);
    /* Comments and blank lines only: nothing set. */
    int only_comments = 1;
    for (size_t i = 1, bol = 1; i < size && only_comments; i++) {
        if (data[i] == '\n') {
            bol = 1;
        } else if (bol && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r')) {
            continue;
        } else if (bol) {
            bol = 0;
            if (data[i] != '#')
                only_comments = 0;
        }
    }
    if (only_comments)
        FUZZ_CHECK(c.from_file == 0);
    /* Popularity's half-life is never the file's. */
    FUZZ_CHECK(c.train.half_life_days == def.train.half_life_days);
    for (const struct rc_opt *o = options; o->name; o++) {
        unsigned bit = tunable_bit(o);
        if (!bit)
            continue;
        double v = bit == RB_PARAM_HALF_LIFE && (c.from_file & bit) ? c.cf_half_life_days : option_value(&c, o);
        if (c.from_file & bit)
            FUZZ_CHECK(v >= o->min && v <= o->max);
        else if (bit != RB_PARAM_HALF_LIFE)
            FUZZ_CHECK(v == option_value(&def, o));
    }
    return 0;
}
