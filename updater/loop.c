/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "loop.h"

int loop_attach(const char *path, int *ret_fd, char **ret_device) {
        _cleanup_close_ int ctl = -EBADF, backing = -EBADF;

        backing = open(path, O_RDONLY | O_CLOEXEC);
        if (backing < 0)
                return log_debug_errno(errno, "Cannot open %s: %m", path);
        ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0)
                return log_debug_errno(errno, "Cannot open /dev/loop-control: %m");

        /* Another process may take the device between GET_FREE and CONFIGURE: then retry. */
        for (unsigned attempt = 0; attempt < 64; attempt++) {
                _cleanup_close_ int fd = -EBADF;
                struct loop_config config = {
                        .fd = (uint32_t) backing,
                        .info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR,
                };
                char *dev;
                int n;

                n = ioctl(ctl, LOOP_CTL_GET_FREE);
                if (n < 0)
                        return log_debug_errno(errno, "No free loop device: %m");
                if (asprintf(&dev, "/dev/loop%d", n) < 0)
                        return -ENOMEM;
                fd = open(dev, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        int e = errno;
                        free(dev);
                        if (e == ENOENT || e == ENXIO)
                                continue;
                        return log_debug_errno(e, "Cannot open loop device: %m");
                }
                strncpy((char *) config.info.lo_file_name, path, LO_NAME_SIZE - 1);
                if (ioctl(fd, LOOP_CONFIGURE, &config) < 0) {
                        int e = errno;
                        free(dev);
                        if (e == EBUSY)
                                continue;
                        return log_debug_errno(e, "Cannot attach %s to a loop device: %m", path);
                }
                *ret_fd = TAKE_FD(fd);
                *ret_device = dev;
                return 0;
        }
        return log_debug_errno(EBUSY, "Could not get a free loop device.");
}
