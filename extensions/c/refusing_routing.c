/* A careful routing extension whose FaxRouteInitialize finds nothing to route with and
 * returns FALSE, after registering for its flag. The service must then leave it out of
 * the run: every entry point below aborts if it is still called (a ConfigChange for the
 * registration made inside the failed init, a device notification, routing
 * administration). validate passes it and says in plain words that it was not used. */
#include "fixture.h"

#include <stdlib.h>

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    abort(); /* the registration died with the failed init */
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
    g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, on_change);
    return FALSE; /* no routing store on this machine */
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device; (void)added;
    abort();
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceEnable(LPCWSTR g, DWORD d, LONG e)
{
    (void)g; (void)d; (void)e;
    abort();
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteGetRoutingInfo(LPCWSTR g, DWORD d, LPBYTE i, LPDWORD s)
{
    (void)g; (void)d; (void)i; (void)s;
    abort();
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteSetRoutingInfo(LPCWSTR g, DWORD d, const BYTE *i, DWORD s)
{
    (void)g; (void)d; (void)i; (void)s;
    abort();
}
