/* A buggy virtual FSP for the recording proxy's conformance arm (tests/recorder.rs):
 * it exports every optional entry point the virtual-FSP proxy exports
 * (FaxExtInitializeConfig, FaxDevShutdown), so the service treats it the same with and
 * without the proxy, and it exercises what the recorder must attribute:
 *   - a write with its own hInst to a key it is registered for (self-exclusion: no
 *     notification comes back, unless the proxy failed to translate the hInst),
 *   - a write with a NULL hInst to the same key (foreign-hinst: it hears its own write),
 *   - a GetData buffer it never frees (buffer-leak),
 *   - FreeBuffer of a notification's lpData (foreign-free, as ChangeData),
 *   - a write into a notification's lpData (change-buffer-written),
 *   - a second Unregister of the same handle at shutdown (stale-unregister).
 * No extension-c fixture is a virtual FSP with FaxDevShutdown and bugs; this one is. */
#include "../../extensions/c/fixture.h"

#define PREFIX 0x7000u

static HANDLE g_handle;
static BYTE g_seen;

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device;
    (void)guid;
    if (data != NULL && size > 0) {
        g_seen = data[0];
        data[0] ^= 0xff;        /* BUG: lpData is the service's */
        g_free_buffer(data);    /* BUG: and not a GetData buffer */
    }
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevVirtualDeviceCreation(LPDWORD count, LPWSTR prefix,
                                                      LPDWORD id_prefix, HANDLE port,
                                                      ULONG_PTR key)
{
    static const WCHAR name[] = FAXSIM_W("Recorder test line");
    (void)port;
    (void)key;
    *count = 1;
    *id_prefix = PREFIX;
    memcpy(prefix, name, sizeof(name));
    return TRUE;
}

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevInitialize(HLINEAPP app, HANDLE heap,
                                           PFAX_LINECALLBACK *line_callback,
                                           PFAX_SERVICE_CALLBACK service_callback)
{
    static BYTE own[4] = {'o', 'w', 'n', 0};
    static BYTE anon[4] = {'a', 'n', 'o', 'n'};
    LPBYTE leaked = NULL;
    DWORD n = 0;
    (void)app;
    (void)heap;
    (void)line_callback;
    (void)service_callback;
    g_handle = g_register(faxsim_module_handle(), PREFIX, DEV_ID_SRC_FAX, FLAGS_GUID,
                          on_change);
    /* Careful: its own write is not sent back to it. */
    g_set_data(faxsim_module_handle(), PREFIX, DEV_ID_SRC_FAX, FLAGS_GUID, own, sizeof(own));
    /* BUG: a NULL hInst, so it is notified of its own write. */
    g_set_data(NULL, PREFIX, DEV_ID_SRC_FAX, FLAGS_GUID, anon, sizeof(anon));
    /* BUG: never freed. */
    g_get_data(PREFIX, DEV_ID_SRC_FAX, FLAGS_GUID, &leaked, &n);
    return TRUE;
}

FAXSIM_EXPORT HRESULT WINAPI FaxDevShutdown(void)
{
    if (g_handle != NULL) {
        g_unregister(g_handle);
        g_unregister(g_handle); /* BUG: already unregistered */
        g_handle = NULL;
    }
    return S_OK;
}
