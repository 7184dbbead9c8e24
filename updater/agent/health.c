/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-state.h"
#include "cleanup.h"
#include "fileio.h"
#include "health.h"
#include "log.h"
#include "parse-util.h"

extern char **environ;

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
/* After SIGTERM, how long the group has to go before SIGKILL. */
#define HEALTH_KILL_DELAY_USEC (2 * USEC_PER_SEC)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The last AGENT_OUTPUT_MAX bytes a check wrote: what explains a failure is usually at the end. */
typedef struct Tail {
        char buf[AGENT_OUTPUT_MAX];
        size_t len;
        bool truncated;
} Tail;

static void tail_add(Tail *t, const char *p, size_t n) {
        if (n >= sizeof t->buf) {
                t->truncated = t->truncated || t->len > 0 || n > sizeof t->buf;
                p += n - sizeof t->buf;
                n = sizeof t->buf;
                t->len = 0;
        } else if (t->len + n > sizeof t->buf) {
                size_t drop = t->len + n - sizeof t->buf;

                memmove(t->buf, t->buf + drop, t->len - drop);
                t->len -= drop;
                t->truncated = true;
        }
        memcpy(t->buf + t->len, p, n);
        t->len += n;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if none starts there. */
static size_t utf8_valid_len(const unsigned char *p, size_t n) {
        size_t len;
        unsigned char lo = 0x80, hi = 0xbf;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                len = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef) {
                len = 3;
                if (p[0] == 0xe0)
                        lo = 0xa0; /* overlong */
                else if (p[0] == 0xed)
                        hi = 0x9f; /* surrogates */
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
                len = 4;
                if (p[0] == 0xf0)
                        lo = 0x90;
                else if (p[0] == 0xf4)
                        hi = 0x8f; /* beyond U+10FFFF */
        } else
                return 0;
        if (n < len || p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < len; i++)
                if (p[i] < 0x80 || p[i] > 0xbf)
                        return 0;
        return len;
}

/* The captured bytes as text the state file and a JSON reader can carry: NUL bytes and invalid
 * UTF-8 become '?', a character cut in half by the truncation is dropped, trailing newlines go. */
static char *tail_to_text(const Tail *t) {
        const unsigned char *p = (const unsigned char *) t->buf;
        size_t n = t->len, i = 0, k = 0;
        char *s;

        if (t->truncated)
                while (i < n && i < 3 && (p[i] & 0xc0) == 0x80)
                        i++;
        s = malloc(n - i + 1);
        if (!s)
                return NULL;
        while (i < n) {
                size_t l = p[i] ? utf8_valid_len(p + i, n - i) : 0;

                if (l == 0) {
                        s[k++] = '?';
                        i++;
                        continue;
                }
                memcpy(s + k, p + i, l);
                k += l;
                i += l;
        }
        while (k > 0 && (s[k - 1] == '\n' || s[k - 1] == '\r'))
                k--;
        s[k] = 0;
        return s;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static const char *format_span(char *buf, size_t len, uint64_t usec) {
        static const struct {
                uint64_t unit;
                const char *suffix;
        } units[] = {
                { 86400 * USEC_PER_SEC, "d" }, { 3600 * USEC_PER_SEC, "h" }, { 60 * USEC_PER_SEC, "min" },
                { USEC_PER_SEC, "s" },         { USEC_PER_MSEC, "ms" },      { 1, "us" },
        };

        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (usec % units[i].unit == 0) {
                        snprintf(buf, len, "%llu%s", (unsigned long long) (usec / units[i].unit), units[i].suffix);
                        break;
                }
        return buf;
}

/* As execvp() searches PATH for a name without '/', but here, before the fork, so that a missing
 * program is reported by name and the child only calls execve(). -ENOENT, or -EACCES if a match
 * was found but cannot be executed. */
static int find_executable(const char *name, char **ret) {
        const char *path = getenv("PATH");
        int last = -ENOENT;

        if (strchr(name, '/')) {
                *ret = strdup(name);
                return *ret ? 0 : -ENOMEM;
        }
        if (!*name)
                return -ENOENT;
        if (!path || !*path)
                path = DEFAULT_PATH;
        for (const char *p = path; *p;) {
                size_t l = strcspn(p, ":");
                _cleanup_free_ char *dir = strndup(p, l), *j = NULL;
                struct stat st;

                if (!dir)
                        return -ENOMEM;
                p += l + (p[l] == ':');
                if (l == 0)
                        continue; /* an empty element would mean the working directory: never */
                j = path_join(dir, name);
                if (!j)
                        return -ENOMEM;
                if (stat(j, &st) < 0 || S_ISDIR(st.st_mode))
                        continue;
                if (faccessat(AT_FDCWD, j, X_OK, AT_EACCESS) < 0) {
                        last = -EACCES;
                        continue;
                }
                *ret = TAKE_PTR(j);
                return 0;
        }
        return last;
}

static char *strjoin2(const char *a, const char *b) {
        char *s = malloc(strlen(a) + strlen(b) + 1);

        if (s)
                strcpy(stpcpy(s, a), b);
        return s;
}

/* The agent's environment, minus what belongs to the agent's own supervision (a check calling
 * systemd-notify must not speak for the agent), plus the versions the check is about. */
static char **make_env(const char *version, const char *previous_version) {
        static const char *const drop[] = { "OSUPDATE_VERSION=", "OSUPDATE_PREVIOUS_VERSION=", "NOTIFY_SOCKET=",
                                            "WATCHDOG_PID=", "WATCHDOG_USEC=" };
        _cleanup_strv_free_ char **env = NULL;
        size_t n = 0, k = 0;

        for (char **e = environ; e && *e; e++)
                n++;
        env = calloc(n + 3, sizeof(char *));
        if (!env)
                return NULL;
        for (char **e = environ; e && *e; e++) {
                bool skip = false;

                for (size_t i = 0; i < ELEMENTSOF(drop); i++)
                        if (strncmp(*e, drop[i], strlen(drop[i])) == 0)
                                skip = true;
                if (skip)
                        continue;
                if (!(env[k++] = strdup(*e)))
                        return NULL;
        }
        if (version && !(env[k++] = strjoin2("OSUPDATE_VERSION=", version)))
                return NULL;
        if (previous_version && !(env[k++] = strjoin2("OSUPDATE_PREVIOUS_VERSION=", previous_version)))
                return NULL;
        return TAKE_PTR(env);
}

static int pidfd_open_compat(pid_t pid) {
#ifdef SYS_pidfd_open
        return (int) syscall(SYS_pidfd_open, pid, 0);
#else
        (void) pid;
        errno = ENOSYS;
        return -1;
#endif
}

static void fds_cloexec_from(int first) {
#ifdef SYS_close_range
        if (syscall(SYS_close_range, (unsigned) first, ~0U, 4U /* CLOSE_RANGE_CLOEXEC, Linux 5.11 */) >= 0)
                return;
#endif
        for (int fd = first; fd < 65536; fd++)
                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Only async-signal-safe calls from here on: the agent may have threads (libcurl's resolver). */
_noreturn_ static void child_exec(const char *exe, char *const *argv, char *const *envp, int null_fd, int out_fd,
                                  int err_fd) {
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t all;
        int e;

        /* Its own group, so that a timeout kills whatever it started too. */
        if (setpgid(0, 0) < 0)
                goto fail;
        /* The agent's dispositions (an ignored SIGPIPE, …) and mask are not the check's. */
        for (int sig = 1; sig < NSIG; sig++)
                (void) sigaction(sig, &sa, NULL);
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0)
                goto fail;
        /* Everything else closes on exec, also what the agent inherited without O_CLOEXEC; the errno
         * pipe too, which is how the parent learns that execve() worked. */
        fds_cloexec_from(3);
        execve(exe, argv, envp);
fail:
        e = errno;
        (void) !write(err_fd, &e, sizeof e);
        _exit(127);
}

/* Reads what is there, at most max_chunks reads: a check writing without pause must not keep the
 * agent from its timeout (or, after the group was killed, a process that left it from returning). */
static void read_output(int *fd, Tail *t, unsigned max_chunks) {
        char chunk[AGENT_OUTPUT_MAX];

        for (unsigned i = 0; i < max_chunks; i++) {
                ssize_t n = read(*fd, chunk, sizeof chunk);

                if (n > 0) {
                        tail_add(t, chunk, (size_t) n);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n == 0 || errno != EAGAIN)
                        *fd = safe_close(*fd); /* EOF: every writer is gone */
                return;
        }
}

/* Checks run as the agent's user (root): a program or directory somebody else may write would let
 * them run code as root, or decide the verdict. The rule of StateDirectory=: owned by root or the
 * agent's user, writable by its owner only. 1: safe; 0: not (*ret_why says so). */
static int check_safe(const struct stat *st, const char *label, const char *path, char **ret_why) {
        if ((st->st_uid == 0 || st->st_uid == geteuid()) && !(st->st_mode & (S_IWGRP | S_IWOTH)))
                return 1;
        return asprintf(ret_why, "%s cannot run: %s is owned by uid %u with mode %04o (it must belong to root and be "
                        "writable by its owner only)", label, path, (unsigned) st->st_uid,
                        (unsigned) (st->st_mode & 07777)) < 0 ? -ENOMEM : 0;
}

/* Runs one check. 1: it passed; 0: it failed (*ret_why: how, with its output); < 0: the agent's
 * own failure (no pipe, no fork). */
static int run_check(const char *label, char *const *argv, char *const *envp, uint64_t timeout_usec, char **ret_why) {
        _cleanup_close_ int null_fd = -EBADF, out_r = -EBADF, out_w = -EBADF, err_r = -EBADF, err_w = -EBADF,
                            pidfd = -EBADF;
        _cleanup_free_ char *exe = NULL, *text = NULL;
        _cleanup_free_ Tail *tail = NULL;
        uint64_t deadline, kill_at = 0;
        bool timed_out = false;
        char span[32];
        int fds[2], status = 0, exec_errno = 0, r;
        struct stat st;
        pid_t pid;

        r = find_executable(argv[0], &exe);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return asprintf(ret_why, "%s cannot run: %s", label, strerror(-r)) < 0 ? -ENOMEM : 0;
        if (stat(exe, &st) < 0)
                return asprintf(ret_why, "%s cannot run: %s", label, strerror(errno)) < 0 ? -ENOMEM : 0;
        r = check_safe(&st, label, exe, ret_why);
        if (r <= 0)
                return r;

        tail = calloc(1, sizeof *tail);
        if (!tail)
                return -ENOMEM;
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return log_error_errno(errno, "Cannot open /dev/null: %m");
        if (pipe2(fds, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Cannot create a pipe: %m");
        out_r = fds[0];
        out_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Cannot create a pipe: %m");
        err_r = fds[0];
        err_w = fds[1];
        /* Only the reading end: the check's stdout stays blocking, as programs expect. */
        if (fcntl(out_r, F_SETFL, O_NONBLOCK) < 0)
                return log_error_errno(errno, "Cannot make the pipe non-blocking: %m");

        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Cannot fork for %s: %m", label);
        if (pid == 0)
                child_exec(exe, argv, envp, null_fd, out_w, err_w);

        /* Also here, so that a timeout before the child ran setpgid() still finds the group. */
        (void) setpgid(pid, pid);
        out_w = safe_close(out_w);
        err_w = safe_close(err_w);
        pidfd = pidfd_open_compat(pid);
        deadline = timeout_usec == 0 || timeout_usec > UINT64_MAX / 2 ? UINT64_MAX : now_usec() + timeout_usec;

        for (;;) {
                struct pollfd p[2] = { { .fd = out_r, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
                uint64_t now = now_usec(), until = timed_out ? kill_at : deadline;
                int wait_ms;
                siginfo_t si = {};

                /* Without a pidfd (an old kernel) the exit is looked for every 50 ms. */
                if (until == 0 || until == UINT64_MAX)
                        wait_ms = pidfd >= 0 ? -1 : 50;
                else
                        wait_ms = until <= now
                                          ? 0
                                          : (int) MIN((until - now + 999) / 1000, (uint64_t) (pidfd >= 0 ? 60000 : 50));
                if (poll(p, 2, wait_ms) < 0 && errno != EINTR) {
                        r = log_error_errno(errno, "Cannot wait for %s: %m", label);
                        (void) kill(-pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return r;
                }
                if (out_r >= 0 && p[0].revents)
                        read_output(&out_r, tail, 16);
                /* Exited, not yet reaped (WNOWAIT): while the leader is a zombie its pid, the
                 * group's id, cannot be taken by anyone else, so the group can still be killed. */
                if (waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
                        break;
                now = now_usec();
                if (!timed_out && now >= deadline) {
                        timed_out = true;
                        log_debug("%s timed out, sending SIGTERM to its process group.", label);
                        (void) kill(-pid, SIGTERM);
                        kill_at = now + HEALTH_KILL_DELAY_USEC;
                } else if (timed_out && kill_at > 0 && now >= kill_at) {
                        log_debug("%s still running, sending SIGKILL to its process group.", label);
                        (void) kill(-pid, SIGKILL);
                        kill_at = 0;
                }
        }
        /* Whatever the check left behind in its group goes with it. */
        (void) kill(-pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return log_error_errno(errno, "Cannot reap %s: %m", label);
        /* What is left in the pipe; a process that left the group and keeps it open is not waited for. */
        if (out_r >= 0)
                read_output(&out_r, tail, 256);
        if (read(err_r, &exec_errno, sizeof exec_errno) != (ssize_t) sizeof exec_errno)
                exec_errno = 0;

        text = tail_to_text(tail);
        if (!text)
                return -ENOMEM;
        if (exec_errno != 0)
                r = asprintf(ret_why, "%s cannot run: %s", label, strerror(exec_errno));
        else if (timed_out)
                r = asprintf(ret_why, "%s timed out after %s%s%s", label, format_span(span, sizeof span, timeout_usec),
                             *text ? ": " : "", text);
        else if (WIFSIGNALED(status))
                r = asprintf(ret_why, "%s killed by signal %d%s%s", label, WTERMSIG(status), *text ? ": " : "", text);
        else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                r = asprintf(ret_why, "%s exited %d%s%s", label, WEXITSTATUS(status), *text ? ": " : "", text);
        else {
                log_debug("%s passed.", label);
                return 1;
        }
        return r < 0 ? -ENOMEM : 0;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The regular executable files of dir (symlinks followed), by name, dot files skipped. */
static int list_checks(const char *dir, char ***ret, char **ret_why) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *label = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat dst;
        DIR *d;
        size_t n = 0;
        struct dirent *de;
        int r = 0;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open HealthCheckDirectory=%s: %m", dir);
        /* Whoever may add an entry picks what root runs (a symlink to any root-owned program). */
        if (fstat(fd, &dst) < 0)
                return log_error_errno(errno, "Cannot stat HealthCheckDirectory=%s: %m", dir);
        if (asprintf(&label, "HealthCheckDirectory=%s", dir) < 0)
                return -ENOMEM;
        r = check_safe(&dst, label, dir, ret_why);
        if (r <= 0)
                return r;
        r = 0;
        d = fdopendir(fd);
        if (!d)
                return log_error_errno(errno, "Cannot read HealthCheckDirectory=%s: %m", dir);
        TAKE_FD(fd);
        for (errno = 0; (de = readdir(d)); errno = 0) {
                struct stat st;
                char **p;

                if (de->d_name[0] == '.')
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
                    faccessat(dirfd(d), de->d_name, X_OK, AT_EACCESS) < 0) {
                        log_debug("%s/%s: not an executable file, skipped.", dir, de->d_name);
                        continue;
                }
                p = realloc(l, sizeof(char *) * (n + 2));
                if (!p) {
                        r = -ENOMEM;
                        break;
                }
                l = p;
                l[n] = path_join(dir, de->d_name);
                l[n + 1] = NULL;
                if (!l[n]) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        if (r == 0 && errno != 0)
                r = log_error_errno(errno, "Cannot read HealthCheckDirectory=%s: %m", dir);
        (void) closedir(d);
        if (r < 0)
                return r;
        if (n > 0)
                qsort(l, n, sizeof(char *), cmp_names);
        *ret = TAKE_PTR(l);
        return 0;
}

int health_run(const AgentConfig *a, const char *version, const char *previous_version, char **ret_output) {
        _cleanup_strv_free_ char **env = NULL, **files = NULL;
        _cleanup_free_ char *why = NULL;
        unsigned n = 0;
        int r;

        /* The directory is read before anything runs: an unreadable one is the agent's error, not a verdict. */
        if (a->health_check_directory) {
                r = list_checks(a->health_check_directory, &files, &why);
                if (r < 0)
                        return r;
                if (why) {
                        log_debug("Health check failed: %s", why);
                        *ret_output = TAKE_PTR(why);
                        return 0;
                }
        }
        env = make_env(version, previous_version);
        if (!env)
                return -ENOMEM;

        for (char **line = a->health_checks; line && *line; line++) {
                _cleanup_strv_free_ char **argv = NULL;
                _cleanup_free_ char *label = NULL;

                if (asprintf(&label, "HealthCheck=%s", *line) < 0)
                        return -ENOMEM;
                n++;
                r = strv_split_quoted(*line, &argv);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (asprintf(&why, "%s cannot run: invalid quoting or escape in the command line", label) < 0)
                                return -ENOMEM;
                        break;
                }
                r = run_check(label, argv, env, a->health_timeout_usec, &why);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
        }
        for (char **f = files; !why && f && *f; f++) {
                char *argv[] = { *f, NULL };

                n++;
                r = run_check(*f, argv, env, a->health_timeout_usec, &why);
                if (r < 0)
                        return r;
        }
        if (why) {
                log_debug("Health check failed: %s", why);
                *ret_output = TAKE_PTR(why);
                return 0;
        }
        if (n == 0)
                why = strdup("no health checks configured: passed");
        else if (asprintf(&why, "%u health check%s passed", n, n == 1 ? "" : "s") < 0)
                why = NULL;
        if (!why)
                return -ENOMEM;
        *ret_output = TAKE_PTR(why);
        return 1;
}
