/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* osupdate apply | status | mark-good | rollback | gc; argv[0] is the verb. */
int cmd_apply(int argc, char *argv[]);
int cmd_fetch(int argc, char *argv[]);
int cmd_status(int argc, char *argv[]);
int cmd_mark_good(int argc, char *argv[]);
int cmd_rollback(int argc, char *argv[]);
int cmd_gc(int argc, char *argv[]);
int cmd_release(int argc, char *argv[]);
