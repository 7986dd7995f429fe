/* A careful TAPI FSP: talks TAPI permanent line ids (the battery's lines are 101 and
 * 102; a real FSP learns them from TAPI), reads and registers in FaxDevInitialize, and
 * unregisters everything in FaxDevShutdown. */
#include "fixture.h"

static const DWORD g_lines[] = {101, 102};
static HANDLE g_handles[2];
static DWORD g_settings[2];

static HRESULT WINAPI on_change(DWORD line, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)guid;
    for (int i = 0; i < 2; i++) {
        if (g_lines[i] == line && data != NULL && size >= sizeof(DWORD)) {
            memcpy(&g_settings[i], data, sizeof(DWORD));
        }
    }
    return NOERROR;
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
    (void)app;
    (void)heap;
    (void)service_callback;
    if (line_callback != NULL) {
        *line_callback = NULL;
    }
    for (int i = 0; i < 2; i++) {
        /* Line 102 may not exist yet: GetData/Register then fail, which is fine. */
        g_settings[i] = fixture_read_dword(g_lines[i], DEV_ID_SRC_TAPI, FLAGS_GUID, 0);
        g_handles[i] = g_register(faxsim_module_handle(), g_lines[i], DEV_ID_SRC_TAPI,
                                  FLAGS_GUID, on_change);
    }
    return TRUE;
}

FAXSIM_EXPORT HRESULT WINAPI FaxDevShutdown(void)
{
    for (int i = 0; i < 2; i++) {
        if (g_handles[i] != NULL) {
            /* While stopping the service answers ERROR_SHUTDOWN_IN_PROGRESS and
             * releases the registration itself. */
            g_unregister(g_handles[i]);
            g_handles[i] = NULL;
        }
    }
    return S_OK;
}
