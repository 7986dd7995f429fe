/* A careful FSP that reads its settings per job, as many real providers do: nothing at
 * FaxDevInitialize; FaxDevStartJob reads the device's status value (GetData, then
 * FreeBuffer), FaxDevReceive and FaxDevSend record what they did (SetData),
 * FaxDevReportStatus answers the size query and then fills the struct and its string,
 * FaxDevEndJob frees the job. JOB_BUG selects the buggy variant (buggy_job_leak.c).
 * JOB_LISTENS makes each job follow its settings while it runs (careful_job_listener.c):
 * FaxDevStartJob registers for the value, a change during the job replaces the job's
 * copy, FaxDevEndJob unregisters; MID_JOB_BUG forgets to free the replaced copy
 * (buggy_mid_job_change.c). */
#include "fixture.h"

#ifndef JOB_BUG
#define JOB_BUG 0
#endif
#ifndef JOB_LISTENS
#define JOB_LISTENS 0
#endif
#ifndef MID_JOB_BUG
#define MID_JOB_BUG 0
#endif

struct job {
    DWORD device;
    LPBYTE settings; /* the GetData buffer, kept for the job */
    BOOL aborted;
    HANDLE watch; /* JOB_LISTENS: the registration for the settings (NULL if none) */
};

#if JOB_LISTENS
static struct job *g_job; /* the job in progress (the battery runs one at a time) */

/* The settings changed during the job: the job takes the new value. Only a write that
 * lands between FaxDevStartJob and FaxDevEndJob gets here (the provider's own writes
 * are not announced to it). */
static HRESULT WINAPI on_settings(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    LPBYTE fresh = NULL;
    DWORD n = 0;
    (void)device; (void)guid; (void)data; (void)size;
    if (g_job == NULL ||
        g_get_data(g_job->device, DEV_ID_SRC_TAPI, STATUS_GUID, &fresh, &n) != ERROR_SUCCESS) {
        return NOERROR;
    }
#if !MID_JOB_BUG
    if (g_job->settings != NULL) {
        g_free_buffer(g_job->settings);
    }
#endif
    g_job->settings = fresh; /* MID_JOB_BUG: the copy it replaces is never freed */
    return NOERROR;
}
#endif

static const WCHAR k_csi[] = FAXSIM_W("+1 555 0100");

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
    return TRUE; /* settings are read per job */
}

FAXSIM_EXPORT HRESULT WINAPI FaxDevShutdown(void)
{
    return S_OK; /* nothing outlives a job */
}

FAXSIM_EXPORT BOOL WINAPI FaxDevStartJob(HLINE line, DWORD device, PHANDLE fax_handle,
                                         HANDLE port, ULONG_PTR key)
{
    struct job *j;
    DWORD n = 0;
    (void)line; (void)port; (void)key;
    if (fax_handle == NULL) {
        return FALSE;
    }
    j = (struct job *)calloc(1, sizeof(*j));
    if (j == NULL) {
        return FALSE;
    }
    j->device = device;
    if (g_get_data(device, DEV_ID_SRC_TAPI, STATUS_GUID, &j->settings, &n) != ERROR_SUCCESS) {
        j->settings = NULL; /* a fresh machine: defaults */
    }
#if JOB_LISTENS
    j->watch = g_register(faxsim_module_handle(), device, DEV_ID_SRC_TAPI, STATUS_GUID,
                          on_settings);
    g_job = j;
#endif
    *fax_handle = (HANDLE)j;
    return TRUE;
}

static void record(struct job *j, BYTE what)
{
    BYTE value[4] = {what, 0, 0, 0};
    g_set_data(faxsim_module_handle(), j->device, DEV_ID_SRC_TAPI, STATUS_GUID, value,
               sizeof(value));
}

FAXSIM_EXPORT BOOL WINAPI FaxDevReceive(HANDLE fax_handle, HCALL call, PFAX_RECEIVE receive)
{
    struct job *j = (struct job *)fax_handle;
    (void)call;
    if (j == NULL || receive == NULL || receive->FileName == NULL) {
        return FALSE;
    }
    record(j, 'r');
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevSend(HANDLE fax_handle, PFAX_SEND send,
                                     PFAX_SEND_CALLBACK callback)
{
    struct job *j = (struct job *)fax_handle;
    if (j == NULL || send == NULL || send->FileName == NULL || callback == NULL) {
        return FALSE;
    }
    if (!callback(fax_handle, 0, 0, 0)) {
        return FALSE;
    }
    record(j, 's');
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevReportStatus(HANDLE fax_handle, PFAX_DEV_STATUS status,
                                             DWORD size, LPDWORD required)
{
    DWORD need = (DWORD)(sizeof(FAX_DEV_STATUS) + sizeof(k_csi));
    (void)fax_handle;
    if (required == NULL) {
        return FALSE;
    }
    *required = need;
    if (status == NULL || size < need) {
        return FALSE; /* the size query */
    }
    memset(status, 0, need);
    status->SizeOfStruct = sizeof(FAX_DEV_STATUS);
    status->CSI = (LPWSTR)(status + 1);
    memcpy(status->CSI, k_csi, sizeof(k_csi));
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevAbortOperation(HANDLE fax_handle)
{
    struct job *j = (struct job *)fax_handle;
    if (j == NULL) {
        return FALSE;
    }
    j->aborted = TRUE;
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevEndJob(HANDLE fax_handle)
{
    struct job *j = (struct job *)fax_handle;
    if (j == NULL) {
        return FALSE;
    }
#if JOB_BUG
    if (!j->aborted) /* BUG: an aborted job's settings buffer is never freed */
#endif
    if (j->settings != NULL) {
        g_free_buffer(j->settings);
    }
#if JOB_LISTENS
    if (j->watch != NULL) {
        g_unregister(j->watch);
    }
    if (g_job == j) {
        g_job = NULL;
    }
#endif
    free(j);
    return TRUE;
}
