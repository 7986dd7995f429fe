/* config-init-failed: FaxExtInitializeConfig fails because a value it insists on is
 * not there, so the service does not recognise the extension (and never calls its
 * general init). */
#include "fixture.h"

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    LPBYTE buffer = NULL;
    DWORD n = 0;
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    if (g_get_data(0, DEV_ID_SRC_FAX, STATUS_GUID, &buffer, &n) != ERROR_SUCCESS) {
        return E_FAIL; /* BUG: a missing value is normal on a fresh machine */
    }
    g_free_buffer(buffer);
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteInitialize(HANDLE heap, PFAX_ROUTE_CALLBACKROUTINES cbs)
{
    (void)heap; (void)cbs;
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device; (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS
