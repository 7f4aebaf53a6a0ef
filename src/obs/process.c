/* Process facts for the process_* metrics, read from Linux /proc: resident memory, CPU time, start
 * time and open file descriptors. Anything unreadable reads as 0 rather than failing a scrape. */
#include "obs/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a small /proc file whole into buf (NUL-terminated); returns its length or -1. */
static long read_small(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = 0;
    return (long)n;
}

/* System boot time (seconds since the epoch), the "btime" line of /proc/stat. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f) return 0;
    char line[256];
    double bt = 0;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "btime ", 6)) {
            bt = strtod(line + 6, NULL);
            break;
        }
    }
    fclose(f);
    return bt;
}

static uint64_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n ? n - 1 : 0; /* not counting the descriptor opendir itself holds */
}

void ig_process_stats_read(ig_process_stats *out)
{
    memset(out, 0, sizeof(*out));
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    char buf[1024];

    /* /proc/self/stat: the command name (field 2) may hold spaces and parentheses, so fields are
     * counted from after its last ')'. That text starts at field 3 (state). */
    if (read_small("/proc/self/stat", buf, sizeof(buf)) > 0) {
        char *p = strrchr(buf, ')');
        if (p) {
            p++;
            unsigned long long utime = 0, stime = 0, start = 0;
            long long rss = 0;
            char *save = NULL;
            int field = 3;
            for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
                if (field == 14)
                    utime = strtoull(tok, NULL, 10);
                else if (field == 15)
                    stime = strtoull(tok, NULL, 10);
                else if (field == 22)
                    start = strtoull(tok, NULL, 10);
                else if (field == 24) {
                    rss = strtoll(tok, NULL, 10);
                    break;
                }
            }
            if (ticks > 0) {
                out->cpu_seconds = (double)(utime + stime) / (double)ticks;
                double bt = boot_time();
                if (bt > 0) out->start_time_seconds = bt + (double)start / (double)ticks;
            }
            if (rss > 0 && page > 0) out->rss_bytes = (uint64_t)rss * (uint64_t)page;
        }
    }
    /* statm's second field is the same resident count; prefer it, as it is the cheaper, current one. */
    if (read_small("/proc/self/statm", buf, sizeof(buf)) > 0 && page > 0) {
        unsigned long long size = 0, res = 0;
        if (sscanf(buf, "%llu %llu", &size, &res) == 2 && res) out->rss_bytes = res * (uint64_t)page;
    }
    out->open_fds = count_fds();
}
