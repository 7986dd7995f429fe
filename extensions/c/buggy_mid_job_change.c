/* buffer-leak, only when a write lands in the middle of a job: the FSP of
 * careful_job_listener.c, except that a change during the job replaces the job's copy of
 * its settings without freeing the old one. The validate battery runs jobs and writes one
 * after the other, as one thread, so it never shows the bug; `faxsim explore --policy
 * random` interleaves them as the service's threads do, and does. */
#define JOB_LISTENS 1
#define MID_JOB_BUG 1
#include "careful_job_fsp.c"
