/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* `osupdate bundle create|info|verify …`: argv[0] is the verb. Negative errno on failure. */
int cmd_bundle(int argc, char *argv[]);
