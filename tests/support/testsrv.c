/* testsrv.c - start, stop and clean up a real server process for the
 * integration tests (see testsrv.h). */
#define _GNU_SOURCE
#include "testsrv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TESTSRV_LOG_MAX (16u << 20)

static int testsrv_problem_count;

/* Log lines that mean a sanitizer caught something in the server. */
static const char *const sanitizer_marks[] = {
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
};

long long testsrv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void testsrv_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int path_join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, TESTSRV_PATH_MAX, "%s/%s", dir, name);
    return n > 0 && n < TESTSRV_PATH_MAX ? 0 : -1;
}

int testsrv_init(testsrv_t *s, const char *bin, const char *const *args)
{
    memset(s, 0, sizeof *s);
    s->last_status = -1;
    if (strlen(bin) >= sizeof s->bin) {
        fprintf(stderr, "testsrv: binary path too long: %s\n", bin);
        return -1;
    }
    strcpy(s->bin, bin);
    for (; args && args[s->nargs]; s->nargs++) {
        if (s->nargs == TESTSRV_MAX_ARGS) {
            fprintf(stderr, "testsrv: more than %d extra arguments\n", TESTSRV_MAX_ARGS);
            return -1;
        }
        s->args[s->nargs] = strdup(args[s->nargs]);
        if (!s->args[s->nargs]) {
            fprintf(stderr, "testsrv: out of memory\n");
            return -1;
        }
    }
    /* A short fixed prefix: the socket path must fit in sun_path. */
    char tmpl[] = "/tmp/noormd-it-XXXXXX";
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "testsrv: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    strcpy(s->dir, tmpl);
    if (chmod(s->dir, 0700) != 0 || path_join(s->socket_path, s->dir, "noormd.sock") != 0 ||
        path_join(s->db_path, s->dir, "noormd.db") != 0 ||
        path_join(s->log_path, s->dir, "noormd.log") != 0 ||
        path_join(s->key_path, s->dir, "noormd.key") != 0) {
        fprintf(stderr, "testsrv: cannot prepare %s\n", s->dir);
        return -1;
    }
    int fd = open(s->key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    static const char key[] = TESTSRV_KEY_B64 "\n";
    if (fd < 0 || write(fd, key, sizeof key - 1) != (ssize_t)(sizeof key - 1)) {
        fprintf(stderr, "testsrv: cannot write %s\n", s->key_path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int testsrv_set_env(testsrv_t *s, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    int slot = s->nenv;
    for (int i = 0; i < s->nenv; i++) {
        if (strncmp(s->env[i], name, nlen) == 0 &&
            (s->env[i][nlen] == '=' || s->env[i][nlen] == '\0'))
            slot = i;
    }
    if (slot == TESTSRV_MAX_ENV) {
        fprintf(stderr, "testsrv: more than %d environment overrides\n", TESTSRV_MAX_ENV);
        return -1;
    }
    char *entry = malloc(nlen + (value ? strlen(value) + 2 : 1));
    if (!entry) {
        fprintf(stderr, "testsrv: out of memory\n");
        return -1;
    }
    if (value)
        sprintf(entry, "%s=%s", name, value);
    else
        strcpy(entry, name);
    if (slot == s->nenv)
        s->nenv++;
    else
        free(s->env[slot]);
    s->env[slot] = entry;
    return 0;
}

/* True when environment entry `e` ("NAME=value") names a variable that
 * `s` overrides. */
static bool env_overridden(const testsrv_t *s, const char *e)
{
    size_t elen = strcspn(e, "=");
    for (int i = 0; i < s->nenv; i++) {
        size_t nlen = strcspn(s->env[i], "=");
        if (nlen == elen && strncmp(s->env[i], e, nlen) == 0)
            return true;
    }
    return false;
}

/* The child's environment: the test's own, minus the overridden names,
 * plus the overrides that set a value. The caller frees the array (the
 * strings belong to environ and to `s`). NULL when out of memory. */
static char **child_environment(const testsrv_t *s)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = malloc((n + (size_t)s->nenv + 1) * sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!env_overridden(s, environ[i]))
            envp[k++] = environ[i];
    }
    for (int i = 0; i < s->nenv; i++) {
        if (strchr(s->env[i], '='))
            envp[k++] = s->env[i];
    }
    envp[k] = NULL;
    return envp;
}

int testsrv_launch(testsrv_t *s)
{
    if (s->pid > 0 || !s->dir[0]) {
        fprintf(stderr, "testsrv: launch needs an initialised, stopped server\n");
        return -1;
    }
    /* Everything the child needs is built before fork: after it, only
     * async-signal-safe calls. */
    char *argv[TESTSRV_MAX_ARGS + 8];
    int a = 0;
    argv[a++] = s->bin;
    argv[a++] = "--socket";
    argv[a++] = s->socket_path;
    argv[a++] = "--db";
    argv[a++] = s->db_path;
    argv[a++] = "--key-file";
    argv[a++] = s->key_path;
    for (int i = 0; i < s->nargs; i++)
        argv[a++] = s->args[i];
    argv[a] = NULL;
    char **envp = child_environment(s);
    if (!envp) {
        fprintf(stderr, "testsrv: out of memory\n");
        return -1;
    }

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "testsrv: fork: %s\n", strerror(errno));
        free(envp);
        return -1;
    }
    if (pid == 0) {
        /* Dies with the test process, even when ctest kills it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int log = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (log < 0 || null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0 ||
            chdir(s->dir) != 0)
            _exit(127);
        execve(s->bin, argv, envp);
        static const char msg[] = "testsrv: exec failed\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    free(envp);
    s->pid = pid;
    s->last_status = -1;
    return 0;
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 255;
}

int testsrv_wait_exit(testsrv_t *s, int timeout_ms)
{
    if (s->pid <= 0)
        return s->last_status;
    long long deadline = testsrv_now_ms() + timeout_ms;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            s->last_status = decode_status(st);
            return s->last_status;
        }
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "testsrv: waitpid: %s\n", strerror(errno));
            s->pid = 0;
            s->last_status = -1;
            return -1;
        }
        if (testsrv_now_ms() >= deadline)
            return TESTSRV_STILL_RUNNING;
        testsrv_sleep_ms(5);
    }
}

static bool socket_accepts(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof sa.sun_path)
        return false;
    memcpy(sa.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

int testsrv_wait_ready(testsrv_t *s, int timeout_ms)
{
    long long deadline = testsrv_now_ms() + timeout_ms;
    for (;;) {
        if (s->pid <= 0) {
            fprintf(stderr, "testsrv: no server running in %s\n", s->dir);
            return -1;
        }
        int st = testsrv_wait_exit(s, 0);
        if (st != TESTSRV_STILL_RUNNING) {
            fprintf(stderr, "testsrv: %s exited with status %d before its socket accepted\n",
                    s->bin, st);
            testsrv_print_log(s);
            return -1;
        }
        if (socket_accepts(s->socket_path))
            return 0;
        if (testsrv_now_ms() >= deadline) {
            fprintf(stderr, "testsrv: %s did not accept on %s within %d ms\n", s->bin,
                    s->socket_path, timeout_ms);
            testsrv_print_log(s);
            return -1;
        }
        testsrv_sleep_ms(10);
    }
}

int testsrv_start(testsrv_t *s, const char *bin, const char *const *args)
{
    if (testsrv_init(s, bin, args) == 0 && testsrv_launch(s) == 0 &&
        testsrv_wait_ready(s, TESTSRV_READY_TIMEOUT_MS) == 0)
        return 0;
    /* A failed setup gets no teardown from cmocka: clean up here. */
    testsrv_destroy(s);
    return -1;
}

int testsrv_restart(testsrv_t *s)
{
    if (s->pid > 0) {
        fprintf(stderr, "testsrv: restart while the server still runs\n");
        return -1;
    }
    if (testsrv_launch(s) != 0)
        return -1;
    return testsrv_wait_ready(s, TESTSRV_READY_TIMEOUT_MS);
}

int testsrv_signal(testsrv_t *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    return kill(s->pid, sig) == 0 ? 0 : -1;
}

int testsrv_stop(testsrv_t *s, int timeout_ms)
{
    if (s->pid > 0)
        testsrv_signal(s, SIGTERM);
    return testsrv_wait_exit(s, timeout_ms);
}

char *testsrv_read_log(const testsrv_t *s)
{
    if (!s->log_path[0])
        return NULL;
    int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size <= TESTSRV_LOG_MAX)
        buf = malloc((size_t)st.st_size + 1);
    size_t len = 0;
    if (buf) {
        /* The file may grow while it is read; stop at the size seen. */
        while (len < (size_t)st.st_size) {
            ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        buf[len] = '\0';
    }
    close(fd);
    return buf;
}

bool testsrv_log_contains(const testsrv_t *s, const char *needle)
{
    char *log = testsrv_read_log(s);
    bool found = log && strstr(log, needle) != NULL;
    free(log);
    return found;
}

void testsrv_print_log(const testsrv_t *s)
{
    char *log = testsrv_read_log(s);
    fprintf(stderr, "---- server log (%s) ----\n%s---- end of server log ----\n", s->dir,
            log ? log : "(unreadable)\n");
    free(log);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        /* Bounded: the directory holds a handful of files the test made. */
        for (int i = 0; i < 10000; i++) {
            struct dirent *e = readdir(d);
            if (!e)
                break;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[TESTSRV_PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    if (rmdir(dir) != 0 && errno != ENOENT)
        fprintf(stderr, "testsrv: cannot remove %s: %s\n", dir, strerror(errno));
}

int testsrv_destroy(testsrv_t *s)
{
    int rc = 0;
    if (s->pid > 0) {
        fprintf(stderr, "testsrv: server %d in %s still running at teardown; killing it\n",
                (int)s->pid, s->dir);
        kill(s->pid, SIGKILL);
        if (testsrv_wait_exit(s, TESTSRV_EXIT_TIMEOUT_MS) == TESTSRV_STILL_RUNNING)
            fprintf(stderr, "testsrv: server %d did not die after SIGKILL\n", (int)s->pid);
        rc = -1;
        testsrv_print_log(s);
    }
    if (s->dir[0]) {
        char *log = testsrv_read_log(s);
        for (size_t i = 0; log && i < sizeof sanitizer_marks / sizeof sanitizer_marks[0]; i++) {
            if (strstr(log, sanitizer_marks[i])) {
                fprintf(stderr, "testsrv: the server log reports \"%s\"\n", sanitizer_marks[i]);
                testsrv_print_log(s);
                rc = -1;
                break;
            }
        }
        free(log);
        remove_dir(s->dir);
        s->dir[0] = '\0';
    }
    for (int i = 0; i < s->nargs; i++) {
        free(s->args[i]);
        s->args[i] = NULL;
    }
    s->nargs = 0;
    for (int i = 0; i < s->nenv; i++) {
        free(s->env[i]);
        s->env[i] = NULL;
    }
    s->nenv = 0;
    if (rc != 0)
        testsrv_problem_count++;
    return rc;
}

int testsrv_finish(testsrv_t *s)
{
    int rc = 0;
    if (s->pid > 0) {
        int st = testsrv_stop(s, TESTSRV_EXIT_TIMEOUT_MS);
        if (st != 0) {
            fprintf(stderr, "testsrv: %s ended with status %d after SIGTERM (want 0)\n", s->bin,
                    st);
            testsrv_print_log(s);
            testsrv_problem_count++;
            rc = -1;
        }
    }
    if (testsrv_destroy(s) != 0)
        rc = -1;
    return rc;
}

int testsrv_problems(void)
{
    return testsrv_problem_count;
}
