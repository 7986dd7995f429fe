/* A careful routing extension that touches its configuration the way real ones do (see
 * ../shared/spec/real-extensions.md): not at initialisation, but when the service asks.
 *
 * - FaxRouteDeviceEnable reads (QUERY_STATUS) or writes (STATUS_ENABLE/DISABLE) a
 *   per-device "enabled" DWORD under ENABLED_GUID, keyed by the routing method's GUID
 *   string compared without changing it.
 * - FaxRouteGetRoutingInfo answers the size query (NULL buffer) and then copies the
 *   method's data, stored under INFO_GUID, into the service's buffer.
 * - FaxRouteSetRoutingInfo stores the data the service hands over.
 *
 * Every GetData buffer is copied and freed once; SetData passes its own module handle. */
#include "fixture.h"

#define ENABLED_GUID FAXSIM_W("{1c9d2b77-4f1e-4a9b-9d6e-0f3a5b7c9e21}")
#define INFO_GUID FAXSIM_W("{2d8e3c66-5a2f-4b8c-8e7f-1a4b6c8d0f32}")

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
        return fixture_read_dword(device, DEV_ID_SRC_FAX, ENABLED_GUID, 0) != 0;
    }
    DWORD flag = enabled == STATUS_ENABLE ? 1 : 0;
    return g_set_data(faxsim_module_handle(), device, DEV_ID_SRC_FAX, ENABLED_GUID,
                      (LPBYTE)&flag, sizeof flag) == ERROR_SUCCESS;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteGetRoutingInfo(LPCWSTR method, DWORD device, LPBYTE info,
                                                 LPDWORD size)
{
    (void)method;
    LPBYTE data = NULL;
    DWORD have = 0;
    if (size == NULL) {
        return FALSE;
    }
    if (g_get_data(device, DEV_ID_SRC_FAX, INFO_GUID, &data, &have) != ERROR_SUCCESS) {
        *size = 0;
        return info == NULL; /* nothing stored: an empty answer to the size query */
    }
    BOOL ok = TRUE;
    if (info == NULL) {
        *size = have; /* the size query */
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
    (void)method;
    if (info == NULL || size == 0) {
        return FALSE;
    }
    return g_set_data(faxsim_module_handle(), device, DEV_ID_SRC_FAX, INFO_GUID,
                      (LPBYTE)info, size) == ERROR_SUCCESS;
}
