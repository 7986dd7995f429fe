/* A careful virtual FSP: two devices from prefix 0x5000, a status value per device
 * published during FaxExtInitializeConfig (callbacks are usable from inside it),
 * registrations per device with logical ids in FaxDevInitialize, all undone in
 * FaxDevShutdown. */
#include "fixture.h"

/* Other fixtures include this file with another prefix or count. */
#ifndef PREFIX
#define PREFIX 0x5000u
#endif
#ifndef COUNT
#define COUNT 2u
#endif

static HANDLE g_handles[COUNT];
static DWORD g_changes;

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device;
    (void)guid;
    (void)data;
    (void)size;
    g_changes++;
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevVirtualDeviceCreation(LPDWORD count, LPWSTR prefix,
                                                      LPDWORD id_prefix, HANDLE port,
                                                      ULONG_PTR key)
{
    static const WCHAR name[] = FAXSIM_W("Careful virtual line");
    (void)port;
    (void)key;
    *count = COUNT;
    *id_prefix = PREFIX;
    memcpy(prefix, name, sizeof(name)); /* well under the 128 WCHARs */
    return TRUE;
}

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    static BYTE idle[4] = {'i', 'd', 'l', 'e'};
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    for (DWORD i = 0; i < COUNT; i++) {
        g_set_data(faxsim_module_handle(), PREFIX + i, DEV_ID_SRC_FAX, STATUS_GUID, idle,
                   sizeof(idle));
    }
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevInitialize(HLINEAPP app, HANDLE heap,
                                           PFAX_LINECALLBACK *line_callback,
                                           PFAX_SERVICE_CALLBACK service_callback)
{
    (void)app;
    (void)heap;
    (void)line_callback;
    (void)service_callback;
    for (DWORD i = 0; i < COUNT; i++) {
        g_handles[i] = g_register(faxsim_module_handle(), PREFIX + i, DEV_ID_SRC_FAX,
                                  FLAGS_GUID, on_change);
    }
    return TRUE;
}

FAXSIM_EXPORT HRESULT WINAPI FaxDevShutdown(void)
{
    for (DWORD i = 0; i < COUNT; i++) {
        if (g_handles[i] != NULL) {
            g_unregister(g_handles[i]);
            g_handles[i] = NULL;
        }
    }
    return S_OK;
}
