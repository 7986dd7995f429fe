/* call-before-config-init: a virtual FSP that pins itself in memory (so a service
 * restart does not reload it) and keeps the callbacks in globals. After a restart its
 * FaxDevVirtualDeviceCreation, which the service calls before FaxExtInitializeConfig,
 * reads its configuration through the pointers of the previous run. */
#include "fixture.h"

#define PREFIX 0x6000u

static void pin_self(void)
{
#if defined(_WIN32)
    HMODULE self;
    GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                       (LPCWSTR)(void *)pin_self, &self);
#else
    Dl_info info;
    if (dladdr((void *)pin_self, &info) != 0 && info.dli_fname != NULL) {
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE); /* never unloaded again */
    }
#endif
}

FAXSIM_EXPORT BOOL WINAPI FaxDevVirtualDeviceCreation(LPDWORD count, LPWSTR prefix,
                                                      LPDWORD id_prefix, HANDLE port,
                                                      ULONG_PTR key)
{
    (void)port; (void)key;
    *count = 1;
    if (g_get_data != NULL) {
        /* BUG: these pointers were handed to the previous instance of the service */
        *count = fixture_read_dword(0, DEV_ID_SRC_FAX, STATUS_GUID, 1);
        if (*count == 0 || *count > 4) {
            *count = 1;
        }
    }
    *id_prefix = PREFIX;
    prefix[0] = 'V';
    prefix[1] = 0;
    return TRUE;
}

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    pin_self();
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevInitialize(HLINEAPP app, HANDLE heap,
                                           PFAX_LINECALLBACK *line_callback,
                                           PFAX_SERVICE_CALLBACK service_callback)
{
    (void)app; (void)heap; (void)line_callback; (void)service_callback;
    return TRUE;
}
