/* A benchmark listener: a careful routing extension that registers once for the
 * routing flags GUID on device 0 at init and does nothing in its ConfigChange handler.
 * The handler is also exported (BenchListenerConfigChange) so a benchmark can call the
 * very same code directly, as the lower bound of a notification fan-out
 * (benches/ffi.rs). It unregisters nothing: the service ends its registrations at
 * unload. */
#include "fixture.h"

static HANDLE g_handle;

FAXSIM_EXPORT HRESULT WINAPI BenchListenerConfigChange(DWORD device, LPCWSTR guid, LPBYTE data,
                                                       DWORD size)
{
    (void)device;
    (void)guid;
    (void)data;
    (void)size;
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
    (void)heap;
    (void)cbs;
    g_handle = g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID,
                          BenchListenerConfigChange);
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device;
    (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS
