/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.json (updater/state.c): state_load() on one input per row with the result it must give (the
 * device's slots, and the boot stage's bookkeeping: slots' good/unconfirmed/failed, the boots
 * history), and state_save() → state_load() round trips. In the rows, JSON is written with ' for " (load_row()
 * turns every ' into "), and a loaded state is compared as one line of text (summary()). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "fileio.h"
#include "state.h"
#include "test-util.h"

/* ---- helpers ---- */

static const char *or_dash(const char *s) {
        return s ?: "-";
}

static const char *slot_or_dash(int slot) {
        return slot_name(slot) ?: (slot == -1 ? "-" : "?");
}

/* "a=ready:2:erofs b=empty:-:- booted=a active=a next_boot=a switching=- staged=- boot_tries=3 good=no floor=1";
 * "-" for none. */
static char *summary(const State *s) {
        char *out, tries[16];

        if (s->boot_tries >= 0)
                snprintf(tries, sizeof tries, "%d", s->boot_tries);
        else
                snprintf(tries, sizeof tries, "%s", s->boot_tries == -1 ? "-" : "?");
        if (asprintf(&out,
                     "a=%s:%s:%s b=%s:%s:%s booted=%s active=%s next_boot=%s switching=%s staged=%s boot_tries=%s "
                     "good=%s floor=%s",
                     or_dash(slot_state_to_string(s->slots[0].state)), or_dash(s->slots[0].version),
                     or_dash(s->slots[0].fstype), or_dash(slot_state_to_string(s->slots[1].state)),
                     or_dash(s->slots[1].version), or_dash(s->slots[1].fstype), slot_or_dash(s->booted),
                     slot_or_dash(s->active), slot_or_dash(s->next_boot), slot_or_dash(s->switching),
                     slot_or_dash(s->staged), tries, s->good ? "yes" : "no", or_dash(s->version_floor)) < 0)
                return NULL;
        return out;
}

#define SUMMARY(a, b, booted, active, next_boot, switching, staged, tries, good, floor)                                \
        "a=" a " b=" b " booted=" booted " active=" active " next_boot=" next_boot " switching=" switching             \
        " staged=" staged " boot_tries=" tries " good=" good " floor=" floor
/* A fresh state: what a missing state.json gives, and what every absent field defaults to. */
#define FRESH SUMMARY("empty:-:-", "empty:-:-", "-", "-", "-", "-", "-", "-", "no", "-")

static void write_state_file(const char *dir, const char *text, size_t len) {
        _cleanup_free_ char *path = tu_join(dir, "state.json");

        assert_int_equal(write_file_atomic(path, text, len, 0644), 0);
}

static void remove_state_file(const char *dir) {
        _cleanup_free_ char *path = tu_join(dir, "state.json");

        assert_true(unlink(path) == 0 || errno == ENOENT);
}

/* state_load() with the sentinel check every call must pass: on failure *ret is not written. */
static int load_checked(const char *dir, State *ret) {
        State sentinel;
        int r;

        memset(&sentinel, 0x5a, sizeof sentinel);
        memcpy(ret, &sentinel, sizeof sentinel);
        r = state_load(dir, ret);
        if (r < 0 && memcmp(ret, &sentinel, sizeof sentinel) != 0)
                fail_msg("state_load() failed with %d but wrote its output", r);
        return r;
}

/* ---- state_load(): one row per input ---- */

typedef struct LoadRow {
        const char *name;
        const char *json; /* ' for ", NULL: no state.json at all */
        int r;
        const char *summary; /* when r == 0 */
} LoadRow;

/* The smallest complete file, and the same with slot a ready, to which rows add one field. */
#define EMPTY_SLOTS "'format':1,'slots':{'a':{'state':'empty'},'b':{'state':'empty'}}"
#define A_READY "'format':1,'slots':{'a':{'state':'ready','version':'2','fstype':'erofs'},'b':{'state':'empty'}}"
#define A_READY_SUMMARY "ready:2:erofs"

static const LoadRow load_rows[] = {
        /* No file: a fresh state. */
        { "no state.json", NULL, 0, FRESH },

        /* Absent fields take their defaults; null is the same as absent. */
        { "only format and slots", "{" EMPTY_SLOTS "}", 0, FRESH },
        { "every optional field null",
          "{" EMPTY_SLOTS ",'booted':null,'active':null,'next_boot':null,'switching':null,'staged':null,"
          "'boot_tries':null,'version_floor':null}",
          0, FRESH },
        { "slot fields null",
          "{'format':1,'slots':{'a':{'state':'empty','version':null,'fstype':null},'b':{'state':'empty'}}}", 0, FRESH },
        /* Like every other optional field, "good" may be null (false). */
        { "good null", "{" EMPTY_SLOTS ",'good':null}", 0, FRESH },

        /* Every field set (the example in state.h). */
        { "every field",
          "{'format': 1, 'slots': {'a': {'state': 'ready', 'version': '2', 'fstype': 'erofs'}, 'b': {'state': "
          "'empty'}},"
          " 'booted': 'a', 'active': 'a', 'next_boot': 'a', 'boot_tries': 3, 'good': false, 'switching': 'b',"
          " 'version_floor': '1', 'staged': 'b'}",
          0, SUMMARY(A_READY_SUMMARY, "empty:-:-", "a", "a", "a", "b", "b", "3", "no", "1") },
        { "both ready, b active and good",
          "{'format':1,'slots':{'a':{'state':'ready','version':'1.0','fstype':'erofs'},"
          "'b':{'state':'ready','version':'2.0~rc1','fstype':'squashfs'}},'booted':'a','active':'b','next_boot':'b',"
          "'boot_tries':0,'good':true}",
          0, SUMMARY("ready:1.0:erofs", "ready:2.0~rc1:squashfs", "a", "b", "b", "-", "-", "0", "yes", "-") },
        /* Older files: a slot still being written (treated as empty by its users, kept as it is here). */
        { "writing slot", "{'format':1,'slots':{'a':{'state':'writing'},'b':{'state':'empty'}}}", 0,
          SUMMARY("writing:-:-", "empty:-:-", "-", "-", "-", "-", "-", "-", "no", "-") },
        /* Only a ready slot must have a version and fstype; an empty one keeps what it has. */
        { "empty slot with version",
          "{'format':1,'slots':{'a':{'state':'empty','version':'1','fstype':'erofs'},'b':{'state':'empty'}}}", 0,
          SUMMARY("empty:1:erofs", "empty:-:-", "-", "-", "-", "-", "-", "-", "no", "-") },
        /* Only the active slot must be ready: booted, next_boot, switching and staged may name any. */
        { "booted and staged empty slots",
          "{" EMPTY_SLOTS ",'booted':'b','next_boot':'a','switching':'a','staged':'b'}", 0,
          SUMMARY("empty:-:-", "empty:-:-", "b", "-", "a", "a", "b", "-", "no", "-") },

        /* Not JSON, or not one object. */
        { "empty file", "", -EUCLEAN, NULL },
        { "whitespace only", " \n", -EUCLEAN, NULL },
        { "truncated", "{'format':1,'slots':{'a':{'state':'empty'}", -EUCLEAN, NULL },
        { "trailing garbage", "{" EMPTY_SLOTS "} x", -EUCLEAN, NULL },
        { "two objects", "{" EMPTY_SLOTS "}{" EMPTY_SLOTS "}", -EUCLEAN, NULL },
        { "array", "[{" EMPTY_SLOTS "}]", -EUCLEAN, NULL },
        { "null", "null", -EUCLEAN, NULL },
        { "string", "'state'", -EUCLEAN, NULL },
        { "key=value", "format=1", -EUCLEAN, NULL },
        { "comment", "{" EMPTY_SLOTS "} // comment", -EUCLEAN, NULL },
        { "trailing comma", "{" EMPTY_SLOTS ",}", -EUCLEAN, NULL },

        /* The format. */
        { "format missing", "{'slots':{'a':{'state':'empty'},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "format 0", "{'format':0,'slots':{'a':{'state':'empty'},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "format 2", "{'format':2,'slots':{'a':{'state':'empty'},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "format string", "{'format':'1','slots':{'a':{'state':'empty'},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "format float", "{'format':1.0,'slots':{'a':{'state':'empty'},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "format null", "{'format':null,'slots':{'a':{'state':'empty'},'b':{'state':'empty'}}}", -EUCLEAN, NULL },

        /* Unknown fields. */
        { "unknown field", "{" EMPTY_SLOTS ",'comment':'x'}", -EUCLEAN, NULL },
        { "field name case", "{" EMPTY_SLOTS ",'Booted':'a'}", -EUCLEAN, NULL },
        { "unknown slot field", "{'format':1,'slots':{'a':{'state':'empty','size':1},'b':{'state':'empty'}}}", -EUCLEAN,
          NULL },

        /* The slots. */
        { "slots missing", "{'format':1}", -EUCLEAN, NULL },
        { "slots null", "{'format':1,'slots':null}", -EUCLEAN, NULL },
        { "slots an array", "{'format':1,'slots':[{'state':'empty'},{'state':'empty'}]}", -EUCLEAN, NULL },
        { "slot b missing", "{'format':1,'slots':{'a':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "slots empty", "{'format':1,'slots':{}}", -EUCLEAN, NULL },
        { "slot a a string", "{'format':1,'slots':{'a':'empty','b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "slot state missing", "{'format':1,'slots':{'a':{},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "slot state unknown", "{'format':1,'slots':{'a':{'state':'broken'},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "slot state upper case", "{'format':1,'slots':{'a':{'state':'READY'},'b':{'state':'empty'}}}", -EUCLEAN,
          NULL },
        { "slot state empty string", "{'format':1,'slots':{'a':{'state':''},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "slot state a number", "{'format':1,'slots':{'a':{'state':2},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "slot version a number", "{'format':1,'slots':{'a':{'state':'empty','version':2},'b':{'state':'empty'}}}",
          -EUCLEAN, NULL },
        { "slot version empty", "{'format':1,'slots':{'a':{'state':'empty','version':''},'b':{'state':'empty'}}}",
          -EUCLEAN, NULL },
        { "slot version with NUL",
          "{'format':1,'slots':{'a':{'state':'ready','version':'2\\u0000x','fstype':'erofs'},'b':{'state':'empty'}}}",
          -EUCLEAN, NULL },
        { "ready slot without version",
          "{'format':1,'slots':{'a':{'state':'ready','fstype':'erofs'},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "ready slot without fstype",
          "{'format':1,'slots':{'a':{'state':'ready','version':'2'},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "ready slot with invalid version",
          "{'format':1,'slots':{'a':{'state':'ready','version':'2 beta','fstype':'erofs'},'b':{'state':'empty'}}}",
          -EUCLEAN, NULL },
        { "ready slot with version starting with a dot",
          "{'format':1,'slots':{'a':{'state':'ready','version':'.2','fstype':'erofs'},'b':{'state':'empty'}}}",
          -EUCLEAN, NULL },
        /* Names in "slots" other than a and b are refused, as unknown keys are everywhere. */
        { "unknown slot name in slots",
          "{'format':1,'slots':{'a':{'state':'empty'},'b':{'state':'empty'},'c':{'state':'ready'}}}", -EUCLEAN, NULL },

        /* References to slots: "a", "b" or null, nothing else. */
        { "booted unknown slot", "{" EMPTY_SLOTS ",'booted':'c'}", -EUCLEAN, NULL },
        { "booted upper case", "{" EMPTY_SLOTS ",'booted':'A'}", -EUCLEAN, NULL },
        { "booted empty string", "{" EMPTY_SLOTS ",'booted':''}", -EUCLEAN, NULL },
        { "booted an index", "{" EMPTY_SLOTS ",'booted':0}", -EUCLEAN, NULL },
        { "booted true", "{" EMPTY_SLOTS ",'booted':true}", -EUCLEAN, NULL },
        { "next_boot unknown slot", "{" EMPTY_SLOTS ",'next_boot':'slot-a'}", -EUCLEAN, NULL },
        { "switching unknown slot", "{" EMPTY_SLOTS ",'switching':'x'}", -EUCLEAN, NULL },
        { "staged unknown slot", "{" EMPTY_SLOTS ",'staged':'ab'}", -EUCLEAN, NULL },
        { "active unknown slot", "{" A_READY ",'active':'c'}", -EUCLEAN, NULL },
        { "active slot empty", "{" EMPTY_SLOTS ",'active':'a'}", -EUCLEAN, NULL },
        { "active slot writing", "{'format':1,'slots':{'a':{'state':'writing'},'b':{'state':'empty'}},'active':'a'}",
          -EUCLEAN, NULL },
        { "active slot ready", "{" A_READY ",'active':'a'}", 0,
          SUMMARY(A_READY_SUMMARY, "empty:-:-", "-", "a", "-", "-", "-", "-", "no", "-") },

        /* boot_tries: 0…100 or null. */
        { "boot_tries 0", "{" EMPTY_SLOTS ",'boot_tries':0}", 0,
          SUMMARY("empty:-:-", "empty:-:-", "-", "-", "-", "-", "-", "0", "no", "-") },
        { "boot_tries 100", "{" EMPTY_SLOTS ",'boot_tries':100}", 0,
          SUMMARY("empty:-:-", "empty:-:-", "-", "-", "-", "-", "-", "100", "no", "-") },
        { "boot_tries 101", "{" EMPTY_SLOTS ",'boot_tries':101}", -EUCLEAN, NULL },
        { "boot_tries -1", "{" EMPTY_SLOTS ",'boot_tries':-1}", -EUCLEAN, NULL },
        { "boot_tries 2^63", "{" EMPTY_SLOTS ",'boot_tries':9223372036854775808}", -EUCLEAN, NULL },
        { "boot_tries 2^64-1", "{" EMPTY_SLOTS ",'boot_tries':18446744073709551615}", -EUCLEAN, NULL },
        { "boot_tries 2^64", "{" EMPTY_SLOTS ",'boot_tries':18446744073709551616}", -EUCLEAN, NULL },
        { "boot_tries float", "{" EMPTY_SLOTS ",'boot_tries':3.0}", -EUCLEAN, NULL },
        { "boot_tries exponent", "{" EMPTY_SLOTS ",'boot_tries':3e0}", -EUCLEAN, NULL },
        { "boot_tries string", "{" EMPTY_SLOTS ",'boot_tries':'3'}", -EUCLEAN, NULL },
        { "boot_tries true", "{" EMPTY_SLOTS ",'boot_tries':true}", -EUCLEAN, NULL },

        /* good: a boolean or absent. */
        { "good true", "{" EMPTY_SLOTS ",'good':true}", 0,
          SUMMARY("empty:-:-", "empty:-:-", "-", "-", "-", "-", "-", "-", "yes", "-") },
        { "good false", "{" EMPTY_SLOTS ",'good':false}", 0, FRESH },
        { "good 1", "{" EMPTY_SLOTS ",'good':1}", -EUCLEAN, NULL },
        { "good string", "{" EMPTY_SLOTS ",'good':'true'}", -EUCLEAN, NULL },

        /* version_floor: a non-empty string or null. */
        { "version_floor", "{" EMPTY_SLOTS ",'version_floor':'1.2'}", 0,
          SUMMARY("empty:-:-", "empty:-:-", "-", "-", "-", "-", "-", "-", "no", "1.2") },
        { "version_floor empty", "{" EMPTY_SLOTS ",'version_floor':''}", -EUCLEAN, NULL },
        { "version_floor a number", "{" EMPTY_SLOTS ",'version_floor':1}", -EUCLEAN, NULL },
        /* The floor is a valid version, as a ready slot's is. */
        { "version_floor not a valid version", "{" EMPTY_SLOTS ",'version_floor':'1 2'}", -EUCLEAN, NULL },

        /* Duplicate keys: json_parse_strict() refuses them (json-c alone keeps the last one silently), at
         * every level and however the key is spelled. */
        { "duplicate key", "{" EMPTY_SLOTS ",'booted':'a','booted':'b'}", -EUCLEAN, NULL },
        { "duplicate key, same value", "{" EMPTY_SLOTS ",'booted':'a','booted':'a'}", -EUCLEAN, NULL },
        { "duplicate format", "{'format':2,'format':1,'slots':{'a':{'state':'empty'},'b':{'state':'empty'}}}", -EUCLEAN,
          NULL },
        { "duplicate slot",
          "{'format':1,'slots':{'a':{'state':'empty'},'b':{'state':'empty'},'a':{'state':'writing'}}}", -EUCLEAN,
          NULL },
        { "duplicate key in a slot",
          "{'format':1,'slots':{'a':{'state':'empty','state':'writing'},'b':{'state':'empty'}}}", -EUCLEAN, NULL },
        { "duplicate key spelled with an escape", "{" EMPTY_SLOTS ",'booted':'a','\\u0062ooted':'b'}", -EUCLEAN, NULL },
};

/* Loads row->json from dir; false, after saying why, if the result is not the row's (compared as
 * summarize() gives it). */
static bool load_row(const char *dir, const LoadRow *row, char *(*summarize)(const State *s)) {
        _cleanup_free_ char *json = NULL, *got = NULL;
        State s;
        int r;

        if (row->json) {
                json = strdup(row->json);
                assert_non_null(json);
                for (char *p = json; *p; p++)
                        if (*p == '\'')
                                *p = '"';
                write_state_file(dir, json, strlen(json));
        } else
                remove_state_file(dir);

        r = load_checked(dir, &s);
        if (r != row->r) {
                print_error("%s: state_load() returned %d (%s), expected %d (%s)\n  state.json: %s\n", row->name, r,
                            strerror(-r), row->r, strerror(-row->r), json ?: "(none)");
                if (r >= 0)
                        state_done(&s);
                return false;
        }
        if (r < 0)
                return true;
        got = summarize(&s);
        state_done(&s);
        assert_non_null(got);
        if (strcmp(got, row->summary) != 0) {
                print_error("%s: state_load() gave\n  %s\nexpected\n  %s\n  state.json: %s\n", row->name, got,
                            row->summary, json ?: "(none)");
                return false;
        }
        return true;
}

/* Every row runs; the test fails at the end, naming each wrong row. */
static void load_rows_check(const char *dir, const LoadRow *rows, size_t n, char *(*summarize)(const State *s)) {
        unsigned wrong = 0;

        for (size_t i = 0; i < n; i++)
                if (!load_row(dir, &rows[i], summarize))
                        wrong++;
        if (wrong > 0)
                fail_msg("%u of %zu rows wrong (above)", wrong, n);
}

static void test_state_load_table(void **state) {
        load_rows_check(*state, load_rows, ELEMENTSOF(load_rows), summary);
}

/* ---- state_load(): the boot bookkeeping (slots' good/unconfirmed/failed, the boots history) ---- */

/* "a=yes/1/- b=no/0/why boots=[a:1:good:-:kernel:5 b:2:failed:bad:-:0]": for each slot good,
 * unconfirmed and failed; then each boot as slot:version:result:reason:verity:time, oldest first. */
static char *boot_summary(const State *s) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        assert_non_null(f);
        for (int i = 0; i < SLOT_MAX; i++)
                fprintf(f, "%s=%s/%u/%s ", slot_name(i), s->slots[i].good ? "yes" : "no", s->slots[i].unconfirmed,
                        or_dash(s->slots[i].failed));
        fputs("boots=[", f);
        for (unsigned i = 0; i < s->n_boots; i++) {
                const BootRecord *b = &s->boots[i];
                fprintf(f, "%s%s:%s:%s:%s:%s:%llu", i > 0 ? " " : "", slot_or_dash(b->slot), or_dash(b->version),
                        or_dash(boot_result_to_string(b->result)), or_dash(b->reason), or_dash(b->verity),
                        (unsigned long long) b->time);
        }
        fputs("]", f);
        assert_int_equal(fclose(f), 0);
        return out;
}

#define NO_BOOTS "a=no/0/- b=no/0/- boots=[]"
/* Slot a ready, b empty, and a history of one boot made of the given fields. */
#define A_BOOT(fields) "{" A_READY ",'boots':[{" fields "}]}"
#define A_READY_WITH(fields)                                                                                           \
        "{'format':1,'slots':{'a':{'state':'ready','version':'2','fstype':'erofs'," fields "},'b':{'state':'empty'}}}"
/* One boot in the history, written as in state.json. */
#define BOOT(slot, time) "{'slot':'" slot "','version':'1','result':'unconfirmed','time':" time "}"
#define BOOT_SUMMARY(slot, time) slot ":1:unconfirmed:-:-:" time

static const LoadRow boot_rows[] = {
        /* Files written before the boot stage: nothing recorded. */
        { "no bookkeeping", "{" A_READY "}", 0, NO_BOOTS },
        { "no state.json", NULL, 0, NO_BOOTS },
        { "boots null", "{" A_READY ",'boots':null}", 0, NO_BOOTS },
        { "boots empty", "{" A_READY ",'boots':[]}", 0, NO_BOOTS },

        /* A slot's bookkeeping. */
        { "slot good, unconfirmed, failed", A_READY_WITH("'good':true,'unconfirmed':3,'failed':'it did not boot'"), 0,
          "a=yes/3/it did not boot b=no/0/- boots=[]" },
        { "slot bookkeeping null", A_READY_WITH("'good':null,'unconfirmed':null,'failed':null"), 0, NO_BOOTS },
        { "slot unconfirmed 1000000", A_READY_WITH("'unconfirmed':1000000"), 0, "a=no/1000000/- b=no/0/- boots=[]" },
        { "slot unconfirmed 1000001", A_READY_WITH("'unconfirmed':1000001"), -EUCLEAN, NULL },
        { "slot unconfirmed -1", A_READY_WITH("'unconfirmed':-1"), -EUCLEAN, NULL },
        { "slot unconfirmed float", A_READY_WITH("'unconfirmed':1.0"), -EUCLEAN, NULL },
        { "slot unconfirmed string", A_READY_WITH("'unconfirmed':'1'"), -EUCLEAN, NULL },
        { "slot good 1", A_READY_WITH("'good':1"), -EUCLEAN, NULL },
        { "slot good string", A_READY_WITH("'good':'true'"), -EUCLEAN, NULL },
        { "slot failed a number", A_READY_WITH("'failed':1"), -EUCLEAN, NULL },
        { "slot failed true", A_READY_WITH("'failed':true"), -EUCLEAN, NULL },
        { "slot failed empty", A_READY_WITH("'failed':''"), -EUCLEAN, NULL },
        { "slot failed a list", A_READY_WITH("'failed':['x']"), -EUCLEAN, NULL },

        /* Older files say "good" only for the next boot: its slot takes it, unless it says its own. */
        { "good of the next boot, older file", "{" A_READY ",'next_boot':'a','good':true}", 0,
          "a=yes/0/- b=no/0/- boots=[]" },
        { "good of the next boot, slot says no",
          "{'format':1,'slots':{'a':{'state':'ready','version':'2','fstype':'erofs','good':false},"
          "'b':{'state':'empty'}},'next_boot':'a','good':true}",
          0, NO_BOOTS },
        { "good, no next boot", "{" A_READY ",'good':true}", 0, NO_BOOTS },
        { "good, next boot an empty slot", "{" A_READY ",'next_boot':'b','good':true}", 0, NO_BOOTS },

        /* The history. */
        { "one full boot",
          A_BOOT("'slot':'a','version':'2','result':'good','reason':'x','verity':'kernel','time':1700000000"), 0,
          "a=no/0/- b=no/0/- boots=[a:2:good:x:kernel:1700000000]" },
        { "only slot and result", A_BOOT("'slot':'b','result':'booting'"), 0,
          "a=no/0/- b=no/0/- boots=[b:-:booting:-:-:0]" },
        { "optional fields null",
          A_BOOT("'slot':'a','version':null,'result':'failed','reason':null,'verity':null,'time':null"), 0,
          "a=no/0/- b=no/0/- boots=[a:-:failed:-:-:0]" },
        { "every result",
          "{" A_READY ",'boots':[{'slot':'a','result':'booting'},{'slot':'a','result':'good'},"
          "{'slot':'b','result':'unconfirmed'},{'slot':'b','result':'failed'}]}",
          0, "a=no/0/- b=no/0/- boots=[a:-:booting:-:-:0 a:-:good:-:-:0 b:-:unconfirmed:-:-:0 b:-:failed:-:-:0]" },
        { "time 2^63-1", A_BOOT("'slot':'a','result':'good','time':9223372036854775807"), 0,
          "a=no/0/- b=no/0/- boots=[a:-:good:-:-:9223372036854775807]" },
        /* More than BOOT_HISTORY_MAX (8) in the file: the last 8 are kept. */
        { "ten boots keep the last eight",
          "{" A_READY ",'boots':[" BOOT("a", "1") "," BOOT("b", "2") "," BOOT("a", "3") "," BOOT("b", "4") ","
          BOOT("a", "5") "," BOOT("b", "6") "," BOOT("a", "7") "," BOOT("b", "8") "," BOOT("a", "9") ","
          BOOT("b", "10") "]}",
          0,
          "a=no/0/- b=no/0/- boots=[" BOOT_SUMMARY("a", "3") " " BOOT_SUMMARY("b", "4") " " BOOT_SUMMARY("a", "5") " "
          BOOT_SUMMARY("b", "6") " " BOOT_SUMMARY("a", "7") " " BOOT_SUMMARY("b", "8") " " BOOT_SUMMARY("a", "9") " "
          BOOT_SUMMARY("b", "10") "]" },

        /* A malformed history makes the file corrupt. */
        { "boots an object", "{" A_READY ",'boots':{'slot':'a','result':'good'}}", -EUCLEAN, NULL },
        { "boots a string", "{" A_READY ",'boots':'a'}", -EUCLEAN, NULL },
        { "a boot a number", "{" A_READY ",'boots':[1]}", -EUCLEAN, NULL },
        { "a boot null", "{" A_READY ",'boots':[null]}", -EUCLEAN, NULL },
        { "a boot a list", "{" A_READY ",'boots':[['a','good']]}", -EUCLEAN, NULL },
        { "a boot with an unknown field", A_BOOT("'slot':'a','result':'good','kernel':'6.1'"), -EUCLEAN, NULL },
        { "a boot without slot", A_BOOT("'result':'good'"), -EUCLEAN, NULL },
        { "a boot with slot null", A_BOOT("'slot':null,'result':'good'"), -EUCLEAN, NULL },
        { "a boot with slot c", A_BOOT("'slot':'c','result':'good'"), -EUCLEAN, NULL },
        { "a boot with slot an index", A_BOOT("'slot':0,'result':'good'"), -EUCLEAN, NULL },
        { "a boot without result", A_BOOT("'slot':'a'"), -EUCLEAN, NULL },
        { "a boot with result null", A_BOOT("'slot':'a','result':null"), -EUCLEAN, NULL },
        { "a boot with an unknown result", A_BOOT("'slot':'a','result':'ok'"), -EUCLEAN, NULL },
        { "a boot with result upper case", A_BOOT("'slot':'a','result':'GOOD'"), -EUCLEAN, NULL },
        { "a boot with version a number", A_BOOT("'slot':'a','result':'good','version':2"), -EUCLEAN, NULL },
        { "a boot with version empty", A_BOOT("'slot':'a','result':'good','version':''"), -EUCLEAN, NULL },
        { "a boot with reason a number", A_BOOT("'slot':'a','result':'good','reason':1"), -EUCLEAN, NULL },
        { "a boot with verity true", A_BOOT("'slot':'a','result':'good','verity':true"), -EUCLEAN, NULL },
        { "a boot with time -1", A_BOOT("'slot':'a','result':'good','time':-1"), -EUCLEAN, NULL },
        { "a boot with time 2^63", A_BOOT("'slot':'a','result':'good','time':9223372036854775808"), -EUCLEAN, NULL },
        { "a boot with time float", A_BOOT("'slot':'a','result':'good','time':1.5"), -EUCLEAN, NULL },
        { "a boot with time a string", A_BOOT("'slot':'a','result':'good','time':'1'"), -EUCLEAN, NULL },
        { "a boot with a duplicate key", A_BOOT("'slot':'a','result':'good','result':'failed'"), -EUCLEAN, NULL },
        /* One bad boot among good ones: the whole file is corrupt, not the boot skipped. */
        { "a bad boot after a good one", "{" A_READY ",'boots':[" BOOT("a", "1") ",{'slot':'a'}]}", -EUCLEAN, NULL },
};

static void test_state_load_boot_table(void **state) {
        load_rows_check(*state, boot_rows, ELEMENTSOF(boot_rows), boot_summary);
}

/* ---- state_load(): inputs made at run time ---- */

/* At most 64 KiB: a valid file of exactly that size loads, one byte more is corrupt. */
static void test_state_load_size_limit(void **state) {
        static const char base[] = "{\"format\":1,\"slots\":{\"a\":{\"state\":\"empty\"},\"b\":{\"state\":\"empty\"}}}";
        const size_t limit = 64 * 1024;
        _cleanup_free_ char *buf = malloc(limit + 1);
        State s;

        assert_non_null(buf);
        memcpy(buf, base, strlen(base));
        memset(buf + strlen(base), ' ', limit + 1 - strlen(base));

        write_state_file(*state, buf, limit);
        assert_int_equal(load_checked(*state, &s), 0);
        state_done(&s);

        write_state_file(*state, buf, limit + 1);
        assert_int_equal(load_checked(*state, &s), -EUCLEAN);
}

/* A NUL byte anywhere makes the file corrupt, even after a complete object. */
static void test_state_load_nul_byte(void **state) {
        static const char text[] =
                "{\"format\":1,\"slots\":{\"a\":{\"state\":\"empty\"},\"b\":{\"state\":\"empty\"}}}\n";
        State s;

        write_state_file(*state, text, sizeof text); /* with the terminating NUL */
        assert_int_equal(load_checked(*state, &s), -EUCLEAN);
}

/* Only a missing file means "fresh": a missing directory too, but a state.json that cannot be read is an I/O
 * error, passed on as it is, not mistaken for a corrupt file. */
static void test_state_load_missing_and_unreadable(void **state) {
        _cleanup_free_ char *missing = tu_join(*state, "does-not-exist"), *path = tu_join(*state, "state.json"),
                            *got = NULL;
        State s;

        assert_int_equal(load_checked(missing, &s), 0);
        got = summary(&s);
        assert_string_equal(got, FRESH);
        state_done(&s);

        remove_state_file(*state);
        assert_int_equal(mkdir(path, 0755), 0);
        assert_int_equal(load_checked(*state, &s), -EUCLEAN);
        assert_int_equal(rmdir(path), 0);
}

/* ---- state_save() → state_load() ---- */

static char *xstrdup(const char *s) {
        char *p = strdup(s);

        assert_non_null(p);
        return p;
}

/* Builds each state of the round-trip table: heap strings, so that state_done() can free them. */
static void state_make(State *s, size_t i) {
        state_init(s);
        switch (i) {
        case 0: /* fresh */
                break;
        case 1: /* the example in state.h */
                s->slots[0] = (SlotInfo){ .state = SLOT_READY, .version = xstrdup("2"), .fstype = xstrdup("erofs") };
                s->booted = s->active = s->next_boot = 0;
                s->switching = s->staged = 1;
                s->boot_tries = 3;
                s->version_floor = xstrdup("1");
                break;
        case 2: /* both ready, b live and confirmed */
                s->slots[0] = (SlotInfo){ .state = SLOT_READY, .version = xstrdup("1.0"), .fstype = xstrdup("erofs") };
                s->slots[1] = (SlotInfo){ .state = SLOT_READY, .version = xstrdup("2.0~rc1^p2-3"), .fstype = xstrdup("squashfs") };
                s->booted = 0;
                s->active = s->next_boot = 1;
                s->boot_tries = 0;
                s->good = true;
                s->version_floor = xstrdup("1.0");
                break;
        case 3: /* the most boot tries, an old writing slot, an empty one that kept its version */
                s->slots[0] = (SlotInfo){ .state = SLOT_WRITING, .version = NULL, .fstype = NULL };
                s->slots[1] = (SlotInfo){ .state = SLOT_EMPTY, .version = xstrdup("7"), .fstype = xstrdup("erofs") };
                s->boot_tries = 100;
                break;
        case 4: /* strings JSON must escape (a slot's fstype is free text to state.json) */
                s->slots[0] = (SlotInfo){ .state = SLOT_READY, .version = xstrdup("1"), .fstype = xstrdup("erofs") };
                s->slots[1] = (SlotInfo){ .state = SLOT_EMPTY, .version = NULL, .fstype = xstrdup("quote\" backslash\\ newline\n tab\t é") };
                s->active = 0;
                s->version_floor = xstrdup("1");
                break;
        case 5: /* the boot bookkeeping: a good slot, one on trial that failed, a full history */
                s->slots[0] = (SlotInfo){ .state = SLOT_READY, .version = xstrdup("1"), .fstype = xstrdup("erofs"),
                                          .good = true };
                s->slots[1] = (SlotInfo){ .state = SLOT_READY, .version = xstrdup("2"), .fstype = xstrdup("erofs"),
                                          .unconfirmed = 1000000,
                                          .failed = xstrdup("its image does not match \"the\" root hash\n") };
                s->booted = s->active = s->next_boot = 0;
                s->good = true;
                for (unsigned k = 0; k < BOOT_HISTORY_MAX; k++)
                        assert_int_equal(state_add_boot(s, (int) (k % 2), k % 2 ? "2" : "1",
                                                        (BootResult) (k % _BOOT_RESULT_MAX),
                                                        k % 3 ? NULL : "reason \\ é", k % 2 ? NULL : "userspace",
                                                        k == 7 ? (uint64_t) INT64_MAX : 1700000000 + k),
                                         0);
                break;
        case 6: /* on trial, and one boot (of the empty slot b) with only what must be there */
                s->slots[0] = (SlotInfo){ .state = SLOT_READY, .version = xstrdup("1"), .fstype = xstrdup("erofs") };
                s->next_boot = 0;
                s->boot_tries = 2;
                assert_int_equal(state_add_boot(s, 1, NULL, BOOT_RESULT_FAILED, NULL, NULL, 0), 0);
                break;
        default:
                fail();
        }
}

#define N_ROUND_TRIP 7

static void test_state_save_round_trip(void **state) {
        for (size_t i = 0; i < N_ROUND_TRIP; i++) {
                _cleanup_free_ char *path = tu_join(*state, "state.json"), *file = NULL, *json = NULL,
                                    *json_again = NULL, *want = NULL, *got = NULL, *want_boots = NULL,
                                    *got_boots = NULL;
                State s, loaded;
                size_t len;

                state_make(&s, i);
                json = state_to_json(&s);
                want = summary(&s);
                want_boots = boot_summary(&s);
                assert_non_null(json);
                assert_non_null(want);

                assert_int_equal(state_save(*state, &s), 0);
                /* The file is exactly state_to_json()'s text. */
                assert_int_equal(read_full_file(path, 1024 * 1024, &file, &len), 0);
                assert_string_equal(file, json);

                /* It parses back to the same state, which serializes to the same text. */
                if (load_checked(*state, &loaded) != 0)
                        fail_msg("round trip %zu: state_load() refused what state_save() wrote:\n%s", i, file);
                got = summary(&loaded);
                json_again = state_to_json(&loaded);
                assert_non_null(got);
                assert_non_null(json_again);
                if (strcmp(got, want) != 0)
                        fail_msg("round trip %zu: saved\n  %s\nloaded\n  %s", i, want, got);
                got_boots = boot_summary(&loaded);
                if (strcmp(got_boots, want_boots) != 0)
                        fail_msg("round trip %zu: saved\n  %s\nloaded\n  %s", i, want_boots, got_boots);
                assert_string_equal(json_again, json);
                state_done(&loaded);
                state_done(&s);
        }
}

/* state_add_boot() keeps the last BOOT_HISTORY_MAX boots, oldest first; state_last_boot() finds a
 * slot's newest; what is added is copied. */
static void test_state_add_boot(void **state) {
        _cleanup_free_ char *got = NULL;
        char version[8] = "1";
        State s, loaded;

        state_init(&s);
        assert_null(state_last_boot(&s, 0));
        for (unsigned k = 1; k <= 11; k++) {
                version[0] = (char) ('0' + k % 10);
                int r = state_add_boot(&s, k == 3 ? 1 : 0, version, BOOT_RESULT_UNCONFIRMED, NULL, NULL, k);

                assert_int_equal(r, 0);
                assert_int_equal(s.n_boots, k < BOOT_HISTORY_MAX ? k : BOOT_HISTORY_MAX);
        }
        version[0] = 'x'; /* copied, not kept */
        got = boot_summary(&s);
        assert_string_equal(got, "a=no/0/- b=no/0/- boots=[a:4:unconfirmed:-:-:4 a:5:unconfirmed:-:-:5 "
                                 "a:6:unconfirmed:-:-:6 a:7:unconfirmed:-:-:7 a:8:unconfirmed:-:-:8 "
                                 "a:9:unconfirmed:-:-:9 a:0:unconfirmed:-:-:10 a:1:unconfirmed:-:-:11]");
        /* Slot b's only boot (the third) is gone with the oldest. */
        assert_null(state_last_boot(&s, 1));
        assert_non_null(state_last_boot(&s, 0));
        assert_int_equal(state_last_boot(&s, 0)->time, 11);
        assert_int_equal(state_add_boot(&s, 1, "2", BOOT_RESULT_FAILED, "why", "kernel", 12), 0);
        assert_ptr_equal(state_last_boot(&s, 1), &s.boots[BOOT_HISTORY_MAX - 1]);
        assert_int_equal(state_last_boot(&s, 0)->time, 11);

        /* A full history saves and loads back whole. */
        assert_int_equal(state_save(*state, &s), 0);
        assert_int_equal(load_checked(*state, &loaded), 0);
        assert_int_equal(loaded.n_boots, BOOT_HISTORY_MAX);
        free(got);
        got = boot_summary(&loaded);
        assert_string_equal(got, "a=no/0/- b=no/0/- boots=[a:5:unconfirmed:-:-:5 a:6:unconfirmed:-:-:6 "
                                 "a:7:unconfirmed:-:-:7 a:8:unconfirmed:-:-:8 a:9:unconfirmed:-:-:9 "
                                 "a:0:unconfirmed:-:-:10 a:1:unconfirmed:-:-:11 b:2:failed:why:kernel:12]");
        state_done(&loaded);
        state_done(&s);
        assert_int_equal(s.n_boots, 0);

        assert_string_equal(boot_result_to_string(BOOT_RESULT_BOOTING), "booting");
        assert_string_equal(boot_result_to_string(BOOT_RESULT_GOOD), "good");
        assert_string_equal(boot_result_to_string(BOOT_RESULT_UNCONFIRMED), "unconfirmed");
        assert_string_equal(boot_result_to_string(BOOT_RESULT_FAILED), "failed");
        assert_null(boot_result_to_string(_BOOT_RESULT_MAX));
        assert_null(boot_result_to_string(_BOOT_RESULT_INVALID));
}

/* state_save() never writes what state_load() would refuse. */
static void test_state_save_refuses_inconsistent(void **state) {
        _cleanup_free_ char *path = tu_join(*state, "state.json");
        State s;

        state_init(&s);
        s.boot_tries = 500;
        assert_int_equal(state_save(*state, &s), -EINVAL);
        s.boot_tries = -1;
        s.active = 0; /* not ready */
        assert_int_equal(state_save(*state, &s), -EINVAL);
        s.active = -1;
        s.version_floor = xstrdup("1 2");
        assert_int_equal(state_save(*state, &s), -EINVAL);
        assert_int_equal(access(path, F_OK), -1);
        state_done(&s);
}

/* state_save() creates the directory (and its parents) and replaces an existing file. */
static void test_state_save_creates_directory(void **state) {
        _cleanup_free_ char *dir = tu_join(*state, "var/lib/osupdate"), *got = NULL;
        State s, loaded;

        state_make(&s, 1);
        assert_int_equal(state_save(dir, &s), 0);
        state_done(&s);
        state_make(&s, 2);
        assert_int_equal(state_save(dir, &s), 0);
        assert_int_equal(load_checked(dir, &loaded), 0);
        got = summary(&loaded);
        assert_string_equal(got, SUMMARY("ready:1.0:erofs", "ready:2.0~rc1^p2-3:squashfs", "a", "b", "b", "-", "-", "0",
                                         "yes", "1.0"));
        state_done(&loaded);
        state_done(&s);
}

/* ---- names ---- */

static void test_slot_names(void **state) {
        static const struct {
                const char *name;
                int slot;
        } rows[] = {
                { "a", 0 },      { "b", 1 },        { "c", -EINVAL },  { "A", -EINVAL },
                { "", -EINVAL }, { "a ", -EINVAL }, { "ab", -EINVAL }, { "0", -EINVAL },
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                print_message("slot_from_name(\"%s\")\n", rows[i].name);
                assert_int_equal(slot_from_name(rows[i].name), rows[i].slot);
        }
        assert_string_equal(slot_name(0), "a");
        assert_string_equal(slot_name(1), "b");
        assert_null(slot_name(-1));
        assert_null(slot_name(SLOT_MAX));

        assert_string_equal(slot_state_to_string(SLOT_EMPTY), "empty");
        assert_string_equal(slot_state_to_string(SLOT_WRITING), "writing");
        assert_string_equal(slot_state_to_string(SLOT_READY), "ready");
        assert_null(slot_state_to_string(_SLOT_STATE_MAX));
        assert_null(slot_state_to_string(_SLOT_STATE_INVALID));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_state_load_table, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_state_load_boot_table, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_state_add_boot, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_state_load_size_limit, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_state_load_nul_byte, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_state_load_missing_and_unreadable, tu_setup_tmpdir,
                                                tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_state_save_refuses_inconsistent, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_state_save_round_trip, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_state_save_creates_directory, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test(test_slot_names),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
