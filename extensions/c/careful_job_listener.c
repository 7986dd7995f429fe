/* A careful per-job FSP that follows its settings while a job runs: the FSP of
 * careful_job_fsp.c with JOB_LISTENS (FaxDevStartJob registers for the value, a change
 * during the job replaces the job's copy and frees the old one, FaxDevEndJob
 * unregisters). */
#define JOB_LISTENS 1
#include "careful_job_fsp.c"
