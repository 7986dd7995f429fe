/* Clean by every rule, and different every run: at start-up it stamps its status with
 * the time of day. Nothing in the protocol forbids that, but a run of it never
 * reproduces, so a failure found with it cannot be replayed bit for bit.
 * `faxsim explore --check-determinism` names the write where two runs of one seed part. */
#include "fixture.h"

#ifndef _WIN32
#include <time.h>
#endif

/* A high-resolution clock reading, different on every run. */
static DWORD clock_stamp(void)
{
#ifdef _WIN32
    LARGE_INTEGER now;
    QueryPerformanceCounter(&now);
    return (DWORD)now.QuadPart ^ (DWORD)(now.QuadPart >> 32);
#else
    struct timespec now;
    if (timespec_get(&now, TIME_UTC) != TIME_UTC) {
        return 0;
    }
    return (DWORD)now.tv_nsec ^ (DWORD)now.tv_sec;
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
    DWORD stamp = clock_stamp();
    (void)g_set_data(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, STATUS_GUID, (LPBYTE)&stamp,
                     sizeof stamp);
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device;
    (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS
