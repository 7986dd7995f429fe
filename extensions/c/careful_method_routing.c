/* A careful routing extension that reads its per-device settings only inside its routing
 * method, as real ones do: RouteToInbox (method {A1B2C3D4-0000-4000-8000-00000000ABCD})
 * reads the method's value for the device the fax arrived on (GetData, then FreeBuffer)
 * and records the job it routed (SetData). Validate it with
 *   --routing-method {A1B2C3D4-0000-4000-8000-00000000ABCD}=RouteToInbox
 * METHOD_BUG selects the buggy variant (buggy_method_leak.c). */
#include "fixture.h"

#ifndef METHOD_BUG
#define METHOD_BUG 0
#endif

#define METHOD_GUID FAXSIM_W("{A1B2C3D4-0000-4000-8000-00000000ABCD}")

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
    return TRUE; /* settings are read per fax */
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device; (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS

FAXSIM_EXPORT BOOL WINAPI RouteToInbox(const FAX_ROUTE *route, PVOID *failure_data,
                                       LPDWORD failure_size)
{
    LPBYTE settings = NULL;
    DWORD n = 0;
    BYTE job[4];
    (void)failure_data; (void)failure_size;
    if (route == NULL || route->SizeOfStruct < sizeof(FAX_ROUTE)) {
        return FALSE;
    }
    if (g_get_data(route->DeviceId, DEV_ID_SRC_FAX, METHOD_GUID, &settings, &n) ==
        ERROR_SUCCESS) {
        /* ... the inbox folder would be read from the settings here ... */
#if !METHOD_BUG
        g_free_buffer(settings);
#endif /* BUG (METHOD_BUG): the settings buffer is never freed */
    }
    memcpy(job, &route->JobId, sizeof(job));
    g_set_data(faxsim_module_handle(), route->DeviceId, DEV_ID_SRC_FAX, STATUS_GUID, job,
               sizeof(job));
    return TRUE;
}
