/* A routing extension written the way real vendor samples are (see
 * ../shared/spec/real-extensions.md), with the bug they typically carry:
 *
 * - It touches its configuration only when the service administers its routing method:
 *   FaxRouteDeviceEnable queries or flips a per-device flag, FaxRouteGetRoutingInfo and
 *   FaxRouteSetRoutingInfo read and store the method's data. Nothing at initialisation.
 * - It answers only for its own routing method (METHOD_GUID, compared without case and
 *   without changing the service's string); any other method gets FALSE.
 * - BUG (foreign-hinst): its module handle is captured in an entry function the build never
 *   calls, so it stays NULL and every SetData passes a NULL hInst.
 *
 * `faxsim validate` finds the bug only when told the method's GUID
 * (`--routing-method {5797DEE4-E738-4A8E-9B91-D1E3D3F0E6B1}`); without it, the battery's
 * placeholder method reaches no configuration call and the report says so. */
#include "fixture.h"

#define METHOD_GUID FAXSIM_W("{5797dee4-e738-4a8e-9b91-d1e3d3f0e6b1}")
#define ENABLED_GUID FAXSIM_W("{5797dee4-e738-4a8e-9b91-d1e3d3f0e6b2}")
#define INFO_GUID FAXSIM_W("{5797dee4-e738-4a8e-9b91-d1e3d3f0e6b3}")

/* Set by an entry function the C runtime's real entry point never calls. */
static HINSTANCE g_module;

FIXTURE_MAYBE_UNUSED static void DllEntry(HINSTANCE module)
{
    g_module = module;
}

/* Case-insensitive comparison of two GUID strings, without writing to either. */
static int same_method(LPCWSTR a, LPCWSTR b)
{
    if (a == NULL || b == NULL) {
        return 0;
    }
    for (;; a++, b++) {
        WCHAR x = *a, y = *b;
        if (x >= 'A' && x <= 'Z') {
            x = (WCHAR)(x - 'A' + 'a');
        }
        if (y >= 'A' && y <= 'Z') {
            y = (WCHAR)(y - 'A' + 'a');
        }
        if (x != y) {
            return 0;
        }
        if (x == 0) {
            return 1;
        }
    }
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
    if (!same_method(method, METHOD_GUID)) {
        return FALSE;
    }
    if (enabled == QUERY_STATUS) {
        return fixture_read_dword(device, DEV_ID_SRC_FAX, ENABLED_GUID, 0) != 0;
    }
    DWORD flag = enabled == STATUS_ENABLE ? 1 : 0;
    /* BUG: g_module is NULL (see DllEntry). */
    return g_set_data(g_module, device, DEV_ID_SRC_FAX, ENABLED_GUID, (LPBYTE)&flag,
                      sizeof flag) == ERROR_SUCCESS;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteGetRoutingInfo(LPCWSTR method, DWORD device, LPBYTE info,
                                                 LPDWORD size)
{
    LPBYTE data = NULL;
    DWORD have = 0;
    if (size == NULL || !same_method(method, METHOD_GUID)) {
        return FALSE;
    }
    if (g_get_data(device, DEV_ID_SRC_FAX, INFO_GUID, &data, &have) != ERROR_SUCCESS) {
        *size = 0;
        return info == NULL;
    }
    BOOL ok = TRUE;
    if (info == NULL) {
        *size = have;
    } else if (*size < have) {
        *size = have;
        ok = FALSE;
    } else {
        memcpy(info, data, have);
        *size = have;
    }
    g_free_buffer(data);
    return ok;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteSetRoutingInfo(LPCWSTR method, DWORD device,
                                                 const BYTE *info, DWORD size)
{
    if (info == NULL || size == 0 || !same_method(method, METHOD_GUID)) {
        return FALSE;
    }
    /* BUG: g_module is NULL (see DllEntry). */
    return g_set_data(g_module, device, DEV_ID_SRC_FAX, INFO_GUID, (LPBYTE)info, size) ==
           ERROR_SUCCESS;
}
