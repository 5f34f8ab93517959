/*
 * opt.h - the command-line parser of every edgerec program (recbuild,
 * recgen, recedge, recctl): one option table per program, which also
 * prints its --help.
 *
 * Spelling, the same everywhere:
 *   --name VALUE, --name=VALUE   an option with a value
 *   --flag                       a flag (--flag=VALUE is refused)
 *   -h                           --help, where the table has "help"
 *   --                           the rest are operands, even "-x"
 *   anything else starting "-"   an unknown option (an error)
 *   anything else                an operand, collected in order
 * An option may be given more than once: the last wins, except where the
 * program's own setter collects (RC_OPT_CUSTOM).
 *
 * An option's value lands in the program's config struct at `off`, as its
 * type says. Numbers are checked against [min, max] (integers also for
 * being whole); choices store the index of the name matched; RC_OPT_CUSTOM
 * calls the program's setter. Where a table entry names `env`, that
 * environment variable is read by rc_opt_defaults (the command line then
 * wins); `def` is the default as text, applied by rc_opt_defaults too
 * (NULL: the struct keeps what the program put there).
 *
 * An alias entry (`alias` set) is another spelling of the entry named
 * `alias`: with `alias_value` set it is a flag meaning "--alias
 * alias_value" (e.g. --log-json for --log-format json); without, it takes
 * the same value. Aliases keep old spellings working; --help lists them
 * only when `help` is set.
 *
 * `scope` lets one table serve commands with different options (recctl):
 * an entry is accepted only when (entry.scope & state.scope) != 0; an
 * entry with scope 0 is accepted everywhere. The operand callback may
 * change state.scope (recctl's command word narrows it).
 *
 * Errors (with a message in err, "--name 'value': expected ..."):
 * RC_EFORMAT (unknown option, a missing or unwanted value, not a number,
 * not a choice), RC_ERANGE (a number outside [min, max], too many
 * operands), RC_ETOOLONG (a value longer than an RC_OPT_BUF field), or what
 * a setter or the operand callback returns. Nothing here allocates; string
 * values point into argv or the environment (RC_OPT_STR) or are copied
 * (RC_OPT_BUF).
 */
#ifndef RC_OPT_H
#define RC_OPT_H

#include <stddef.h>
#include <stdio.h>

enum rc_opt_type {
    RC_OPT_STR,    /* const char * (into argv/env); an empty value is refused unless min < 0 */
    RC_OPT_BUF,    /* char[size], copied */
    RC_OPT_U32,    /* uint32_t */
    RC_OPT_U64,    /* uint64_t (read with strtoull: every 64-bit value) */
    RC_OPT_I64,    /* int64_t */
    RC_OPT_INT,    /* int */
    RC_OPT_UINT,   /* unsigned */
    RC_OPT_LONG,   /* long */
    RC_OPT_F32,    /* float */
    RC_OPT_F64,    /* double */
    RC_OPT_FLAG,   /* int set to 1; takes no value */
    RC_OPT_BOOL,   /* int; a flag on the command line, 1/0 true/false yes/no on off from env or --x=V */
    RC_OPT_CHOICE, /* int: the index of the value in choices */
    RC_OPT_CUSTOM, /* set(cfg, o, value, err) */
};

struct rc_opt;
typedef int (*rc_opt_setter)(void *cfg, const struct rc_opt *o, const char *value, char *err);

struct rc_opt {
    const char *name;   /* without "--"; NULL ends the table */
    const char *arg;    /* metavar for --help; NULL: takes no value (FLAG, BOOL, or a CUSTOM flag) */
    enum rc_opt_type type;
    size_t off;         /* of the field in the program's config struct */
    size_t size;        /* RC_OPT_BUF: the field's size */
    double min, max;    /* numbers; ignored when min == max == 0 */
    const char *const *choices; /* RC_OPT_CHOICE: NULL-terminated */
    rc_opt_setter set;  /* RC_OPT_CUSTOM */
    const char *env;    /* environment variable, or NULL */
    const char *def;    /* default as text, or NULL */
    unsigned scope;     /* 0: everywhere */
    const char *help;
    const char *section; /* --help starts a section titled so before this entry */
    const char *alias;   /* another spelling of the entry of this name */
    const char *alias_value;
};

/* Operand callback: called for each operand in order; may set *scope. */
typedef int (*rc_opt_operand)(void *cfg, const char *arg, unsigned *scope, char *err);

struct rc_opt_state {
    unsigned scope;          /* in: the scope before the first operand; out: the last */
    rc_opt_operand operand;  /* NULL: operands are refused (RC_EFORMAT) */
    void (*seen)(void *cfg, const struct rc_opt *o); /* NULL, or told of each option set (its target if an alias) */
};

/* The entry named name[0, len) accepted in scope, or NULL. */
const struct rc_opt *rc_opt_find(const struct rc_opt *table, const char *name, size_t len, unsigned scope);

/* Set one option from text; `from` names the source in messages
 * ("--port", "EDGEREC_PORT"). Errors as above. */
int rc_opt_set(const struct rc_opt *o, void *cfg, const char *value, const char *from, char *err);

/* Apply every `def`, then every `env` that is set. Errors as above, the
 * message naming the variable. */
int rc_opt_defaults(const struct rc_opt *table, void *cfg, char *err);

/* Parse argv[1, argc). Errors as above. */
int rc_opt_parse(const struct rc_opt *table, void *cfg, int argc, char **argv, struct rc_opt_state *st, char *err);

/*
 * --help's option list: "  --name ARG   help [default]" for each entry
 * accepted in scope, the help wrapped to fit `width` columns, sections as
 * headings. The default shown is the value the entry's field holds in
 * defaults (a config as the program starts it), or `def`; a CUSTOM entry
 * shows `def` only.
 */
void rc_opt_usage(FILE *out, const struct rc_opt *table, const void *defaults, unsigned scope, int width);

#endif
