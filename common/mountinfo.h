/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /proc/PID/mountinfo escapes space, tab, newline and backslash in paths as \ooo: undo it in place. */
void mountinfo_unescape(char *s);
