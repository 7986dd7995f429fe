/* buffer-leak, on an error path only: when an administrator enables or disables its
 * routing method, it reads the current flag, writes the new one, and frees the buffer
 * only if the write worked. A service whose SetData fails (an injected failure in faxsim,
 * a full registry on a real server) makes it leak; a run without failures shows nothing.
 * faxsim's report says which injected failure opened the path. */
#include "fixture.h"

#define STATE_GUID FAXSIM_W("{3e9f4d55-6b30-4c9d-9f80-2b5c7d9e1a43}")

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
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device;
    (void)added;
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceEnable(LPCWSTR method, DWORD device, LONG enabled)
{
    (void)method;
    if (enabled == QUERY_STATUS) {
        return fixture_read_dword(device, DEV_ID_SRC_FAX, STATE_GUID, 1) != 0;
    }
    LPBYTE old = NULL;
    DWORD size = 0;
    if (g_get_data(device, DEV_ID_SRC_FAX, STATE_GUID, &old, &size) != ERROR_SUCCESS) {
        old = NULL; /* nothing stored yet */
    }
    DWORD flag = enabled == STATUS_ENABLE ? 1 : 0;
    if (g_set_data(faxsim_module_handle(), device, DEV_ID_SRC_FAX, STATE_GUID, (LPBYTE)&flag,
                   sizeof flag) != ERROR_SUCCESS) {
        return FALSE; /* BUG: `old` is not freed on this path */
    }
    if (old != NULL) {
        g_free_buffer(old);
    }
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteGetRoutingInfo(LPCWSTR method, DWORD device, LPBYTE info,
                                                 LPDWORD size)
{
    (void)method;
    (void)device;
    (void)info;
    if (size != NULL) {
        *size = 0;
    }
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteSetRoutingInfo(LPCWSTR method, DWORD device,
                                                 const BYTE *info, DWORD size)
{
    (void)method;
    (void)device;
    (void)info;
    (void)size;
    return FALSE;
}
