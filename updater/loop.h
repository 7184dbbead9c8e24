/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Attaches a file to a free loop device, read-only and with autoclear: the device goes away by
 * itself once the last fd and the last mount of it are gone, so a crash never leaks it.
 * Returns the read-only fd of the loop device and its path (/dev/loopN). */
int loop_attach(const char *path, int *ret_fd, char **ret_device);
