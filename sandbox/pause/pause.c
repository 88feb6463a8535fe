/* pause: the infrastructure ("sandbox") container of a Pod: holds the Pod's namespaces open.
 *
 * It sleeps until SIGINT or SIGTERM, then exits 0; as PID 1 of a shared PID namespace it also
 * reaps zombies on SIGCHLD. Our own version of registry.k8s.io/pause, for nodes without a registry.
 * Build: gcc -static -O2 -Wall -Wextra -o pause pause.c
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "healthdemo-pause 3.10"

static volatile sig_atomic_t stop_signal;

static void on_stop(int signum) { stop_signal = signum; }

static void on_child(int signum) {
    (void)signum;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

static int install(int signum, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = signum == SIGCHLD ? SA_NOCLDSTOP | SA_RESTART : 0;
    return sigaction(signum, &action, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
        puts(VERSION);
        return 0;
    }
    if (getpid() != 1) {
        fputs("pause: warning: not PID 1, zombies of others are not ours to reap\n", stderr);
    }
    if (install(SIGINT, on_stop) || install(SIGTERM, on_stop) || install(SIGCHLD, on_child)) {
        perror("pause: sigaction");
        return 1;
    }
    /* Block the stop signals between the check and pause(): sigsuspend unblocks them atomically,
     * so a signal arriving right before we sleep cannot be lost. */
    sigset_t blocked, waiting;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGCHLD);
    sigprocmask(SIG_BLOCK, &blocked, &waiting);
    while (!stop_signal) {
        sigsuspend(&waiting);
    }
    return 0;
}
