/* call-after-unload (and buffer-leak): a routing extension keeps the GetData buffer of
 * its flag for its whole life and, having no shutdown entry point, frees it from its
 * unload-time code (a destructor; on Windows DllMain's DLL_PROCESS_DETACH) - after the
 * service unloaded it. The pointer is one GetData returned: the finding names that
 * buffer, not a foreign pointer. */
#include "routing_skeleton.h"

static LPBYTE g_cached;

static void bug_init(void)
{
    DWORD n = 0;
    if (g_get_data(0, DEV_ID_SRC_FAX, FLAGS_GUID, &g_cached, &n) != ERROR_SUCCESS) {
        g_cached = NULL;
    }
}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
}

static void release_cache(void)
{
    if (g_cached != NULL && g_free_buffer != NULL) {
        /* BUG: too late - the service unloaded us before this runs */
        g_free_buffer(g_cached);
        g_cached = NULL;
    }
}

#if defined(_WIN32)
BOOL WINAPI DllMain(HINSTANCE module, DWORD reason, LPVOID reserved)
{
    (void)module;
    if (reason == DLL_PROCESS_DETACH && reserved == NULL) {
        release_cache();
    }
    return TRUE;
}
#else
__attribute__((destructor)) static void on_unload(void)
{
    release_cache();
}
#endif
