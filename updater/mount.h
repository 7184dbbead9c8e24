/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Mounts device (fstype erofs or squashfs) read-only, nodev, nosuid, without attaching it
 * anywhere: returns the mount fd. */
int mount_image_detached(const char *device, const char *fstype, int *ret_mount_fd);

/* Puts the detached mount beneath the mount on top of target:
 * move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH).
 * Propagation of the new mount is computed from the target's *parent*: where the parent is shared,
 * every peer and slave namespace gets a copy beneath its own top too.
 * -EOPNOTSUPP when the kernel has no MOVE_MOUNT_BENEATH (< 6.5: EINVAL for a valid target);
 * -ENOTBLK when target is not a mount point. */
int mount_tuck_beneath(int mount_fd, const char *target);

/* Removes the top mount at target (lazily: open files keep working, new lookups see the mount
 * beneath). Unmount propagation follows the parent as well. */
int mount_remove_top(const char *target);


/* > 0 if path is the root of a mount, 0 if not, negative errno on error. */
int mount_is_mount_point(const char *path);

/* Number of mounts stacked at path in this mount namespace (from /proc/self/mountinfo). */
int mount_count_at(const char *path);
/* The same through a /proc opened earlier: after setns() into a container, its own /proc may
 * belong to another pid namespace, where "self" does not resolve. */
int mount_count_at_in(int proc_fd, const char *path);

/* Removes old tops at target while a newer image lies beneath (two or more mounts), so the
 * namespace ends on the one image at the bottom. */
int mount_remove_stale_tops(int proc_fd, const char *target);

/* Does this kernel support MOVE_MOUNT_BENEATH? Probed in a throwaway child mount namespace,
 * touching nothing of ours. */
int mount_beneath_supported(void);
