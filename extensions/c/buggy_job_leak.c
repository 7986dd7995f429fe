/* buffer-leak, on the job side only: the per-job FSP of careful_job_fsp.c, except that
 * FaxDevEndJob forgets the settings buffer of a job whose operation was aborted. Nothing
 * is wrong at initialisation: only driving jobs (and an abort) finds it. */
#define JOB_BUG 1
#include "careful_job_fsp.c"
