/* wrong-id-source: a routing extension that registers devices with DEV_ID_SRC_TAPI
 * (routing extensions talk logical ids). */
#include "fixture.h"

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
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
    (void)heap; (void)cbs;
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    if (added) {
        /* BUG: DEV_ID_SRC_TAPI for a logical device id */
        g_register(faxsim_module_handle(), device, DEV_ID_SRC_TAPI, FLAGS_GUID, on_change);
    }
    return TRUE;
}

FIXTURE_ROUTING_STUBS
