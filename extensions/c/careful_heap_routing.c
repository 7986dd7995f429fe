/* A careful routing extension written straight from the documentation of the general
 * init: it allocates its state from the heap the service passes to FaxRouteInitialize
 * (and fails its init if it cannot), and keeps the pointer to the service's callback
 * table rather than a copy, reading it again later. It touches its configuration when
 * a routing method is administered. A service that passes a NULL heap, or a table that
 * does not outlive the call, makes it fail or misbehave (see issue "fidelity"). */
#include "fixture.h"

#define STATE_GUID FAXSIM_W("{8b2e6a11-3c4d-4f5e-9a7b-1c2d3e4f5a6b}")

typedef struct {
    HANDLE heap;
    PFAX_ROUTE_CALLBACKROUTINES routines; /* the service's table, kept by pointer */
    DWORD enables;
} STATE;

static STATE *g_state;

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteInitialize(HANDLE heap, PFAX_ROUTE_CALLBACKROUTINES cbs)
{
    if (heap == NULL || cbs == NULL || cbs->SizeOfStruct != sizeof(FAX_ROUTE_CALLBACKROUTINES)) {
        return FALSE;
    }
    g_state = (STATE *)HeapAlloc(heap, HEAP_ZERO_MEMORY, sizeof(STATE));
    if (g_state == NULL) {
        return FALSE;
    }
    g_state->heap = heap;
    g_state->routines = cbs;
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
    /* The kept table must still be the service's. */
    if (g_state == NULL || g_state->routines->SizeOfStruct != sizeof(FAX_ROUTE_CALLBACKROUTINES)) {
        return FALSE;
    }
    if (enabled == QUERY_STATUS) {
        return fixture_read_dword(device, DEV_ID_SRC_FAX, STATE_GUID, 1) != 0;
    }
    g_state->enables++;
    DWORD flag = enabled == STATUS_ENABLE ? 1 : 0;
    return g_set_data(faxsim_module_handle(), device, DEV_ID_SRC_FAX, STATE_GUID, (LPBYTE)&flag,
                      sizeof flag) == ERROR_SUCCESS;
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
