/* input-written: lower-cases GUID strings in place before comparing them, as real vendor
 * samples do (CharLower on the service's LPCWSTR): the routing method GUID given to
 * FaxRouteDeviceEnable, and the GUID of its ConfigChange. Both belong to the service and
 * are passed read-only. The careful way compares without writing (see
 * vendor_style_routing.c) or lower-cases its own copy. */
#include "fixture.h"

#define METHOD_GUID FAXSIM_W("{5797dee4-e738-4a8e-9b91-d1e3d3f0e6b1}")

/* Lower-cases a GUID string where it lies (the bug: it is not ours). */
static void lower_in_place(LPCWSTR s)
{
    for (WCHAR *p = (WCHAR *)s; *p != 0; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (WCHAR)(*p - 'A' + 'a');
        }
    }
}

static int equal(LPCWSTR a, LPCWSTR b)
{
    for (; *a != 0 && *a == *b; a++, b++) {
    }
    return *a == *b;
}

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return NOERROR;
}

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device;
    (void)data;
    (void)size;
    lower_in_place(guid); /* BUG */
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteInitialize(HANDLE heap, PFAX_ROUTE_CALLBACKROUTINES cbs)
{
    (void)heap;
    (void)cbs;
    g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, on_change);
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
    if (method == NULL) {
        return FALSE;
    }
    lower_in_place(method); /* BUG */
    if (!equal(method, METHOD_GUID)) {
        return FALSE;
    }
    if (enabled == QUERY_STATUS) {
        return fixture_read_dword(device, DEV_ID_SRC_FAX, METHOD_GUID, 1) != 0;
    }
    DWORD flag = enabled == STATUS_ENABLE ? 1 : 0;
    return g_set_data(faxsim_module_handle(), device, DEV_ID_SRC_FAX, METHOD_GUID,
                      (LPBYTE)&flag, sizeof flag) == ERROR_SUCCESS;
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
