/* Not a bug: checks that Register's failure reason reaches C code. It registers with a
 * NULL callback (ERROR_INVALID_PARAMETER), reads the reason where this system keeps it
 * (GetLastError() on Windows, errno elsewhere) and publishes it under STATUS_GUID, so a
 * test can read it back from the trace. */
#include "fixture.h"

#if !defined(_WIN32)
#include <errno.h>
#endif

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteInitialize(HANDLE heap, PFAX_ROUTE_CALLBACKROUTINES cbs)
{
    DWORD reason = 0;
    (void)heap;
    (void)cbs;
    if (g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, NULL) == NULL) {
#if defined(_WIN32)
        reason = GetLastError();
#else
        reason = (DWORD)errno;
#endif
    }
    g_set_data(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, STATUS_GUID, (LPBYTE)&reason,
               sizeof(reason));
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device;
    (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS
