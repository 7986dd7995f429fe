/* registration-leak: an FSP that exports FaxDevShutdown but never unregisters. */
#include "fixture.h"

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
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
    (void)app; (void)heap; (void)line_callback; (void)service_callback;
    g_register(faxsim_module_handle(), 101, DEV_ID_SRC_TAPI, FLAGS_GUID, on_change);
    return TRUE;
}

FAXSIM_EXPORT HRESULT WINAPI FaxDevShutdown(void)
{
    return S_OK; /* BUG: the registration is still held */
}
