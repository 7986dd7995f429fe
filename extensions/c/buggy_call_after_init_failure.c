/* call-after-init-failure: an FSP whose FaxExtInitializeConfig fails, but whose
 * FaxDevShutdown (the one entry point the service still calls) saves its state
 * through the callbacks it kept anyway. */
#include "fixture.h"

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return E_FAIL; /* it does fail... */
}

FAXSIM_EXPORT BOOL WINAPI FaxDevInitialize(HLINEAPP app, HANDLE heap,
                                           PFAX_LINECALLBACK *line_callback,
                                           PFAX_SERVICE_CALLBACK service_callback)
{
    (void)app; (void)heap; (void)line_callback; (void)service_callback;
    return TRUE;
}

FAXSIM_EXPORT HRESULT WINAPI FaxDevShutdown(void)
{
    static BYTE state[4] = {'d', 'o', 'n', 'e'};
    /* BUG: ...but the callbacks are used anyway */
    g_set_data(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, STATUS_GUID, state, sizeof(state));
    return S_OK;
}
