/* extension-hung, while talking: the change handler never returns but prints a line to
 * standard output every 200 ms, and a logger thread of its own prints a heartbeat every
 * 100 ms. Output is not progress: only events are (validate's worker protocol does not
 * read the extension's output streams). */
#include "routing_skeleton.h"

#include <stdio.h>

#if defined(_WIN32)
#define THREAD_RET DWORD WINAPI
static void nap(unsigned ms) { Sleep(ms); }
#else
#include <pthread.h>
#include <time.h>
#define THREAD_RET void *
static void nap(unsigned ms)
{
    struct timespec t = {0, (long)ms * 1000000L};
    nanosleep(&t, NULL);
}
#endif

static int g_logger_started;

static THREAD_RET logger(void *arg)
{
    (void)arg;
    for (;;) {
        printf("chatty: heartbeat\n");
        fflush(stdout);
        nap(100);
    }
    return 0;
}

static void bug_init(void)
{
    if (g_logger_started) {
        return;
    }
    g_logger_started = 1;
#if defined(_WIN32)
    HANDLE t = CreateThread(NULL, 0, logger, NULL, 0, NULL);
    if (t != NULL) {
        CloseHandle(t);
    }
#else
    pthread_t t;
    if (pthread_create(&t, NULL, logger, NULL) == 0) {
        pthread_detach(t);
    }
#endif
}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    for (;;) { /* BUG: busy with something that never finishes, and says so */
        printf("chatty: still working\n");
        fflush(stdout);
        nap(200);
    }
    return NOERROR;
}
