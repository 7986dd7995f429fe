/* A careful routing extension that does its configuration work on a thread of its own:
 * FaxRouteInitialize starts a worker that reads the global flag and registers for it,
 * and waits for it. Calls from the worker must be attributed to this extension, with a
 * thread id of their own. */
#include "fixture.h"

#if defined(_WIN32)
#define THREAD_RET DWORD WINAPI
#else
#include <pthread.h>
#define THREAD_RET void *
#endif

static HANDLE g_handle;
static DWORD g_flag;

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device;
    (void)guid;
    if (data != NULL && size >= sizeof(DWORD)) {
        memcpy(&g_flag, data, sizeof(DWORD));
    }
    return NOERROR;
}

static THREAD_RET worker(void *arg)
{
    (void)arg;
    g_flag = fixture_read_dword(0, DEV_ID_SRC_FAX, FLAGS_GUID, 0);
    g_handle = g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, on_change);
    return 0;
}

static void run_on_worker(void)
{
#if defined(_WIN32)
    HANDLE t = CreateThread(NULL, 0, worker, NULL, 0, NULL);
    if (t != NULL) {
        WaitForSingleObject(t, INFINITE);
        CloseHandle(t);
    }
#else
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) == 0) {
        pthread_join(t, NULL);
    }
#endif
}

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteInitialize(HANDLE heap, PFAX_ROUTE_CALLBACKROUTINES cbs)
{
    (void)heap;
    (void)cbs;
    run_on_worker();
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device;
    (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS
