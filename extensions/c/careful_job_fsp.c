/* A careful FSP that reads its settings per job, as many real providers do: nothing at
 * FaxDevInitialize; FaxDevStartJob reads the device's status value (GetData, then
 * FreeBuffer), FaxDevReceive and FaxDevSend record what they did (SetData),
 * FaxDevReportStatus answers the size query and then fills the struct and its string,
 * FaxDevEndJob frees the job. JOB_BUG selects the buggy variant (buggy_job_leak.c). */
#include "fixture.h"

#ifndef JOB_BUG
#define JOB_BUG 0
#endif

struct job {
    DWORD device;
    LPBYTE settings; /* the GetData buffer, kept for the job */
    BOOL aborted;
};

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
    free(j);
    return TRUE;
}
