/* call-after-unload: saves its state from its unload-time code (a destructor; on
 * Windows DllMain's DLL_PROCESS_DETACH), through callbacks that died with the unload. */
#include "routing_skeleton.h"

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
}

static void save_state(void)
{
    static BYTE state[4] = {'b', 'y', 'e', 0};
    if (g_set_data != NULL) {
        /* BUG: the service unloaded us; the pointer is dead */
        g_set_data(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, STATUS_GUID, state,
                   sizeof(state));
    }
}

#if defined(_WIN32)
BOOL WINAPI DllMain(HINSTANCE module, DWORD reason, LPVOID reserved)
{
    (void)module;
    if (reason == DLL_PROCESS_DETACH && reserved == NULL) {
        save_state();
    }
    return TRUE;
}
#else
__attribute__((destructor)) static void on_unload(void)
{
    save_state();
}
#endif
