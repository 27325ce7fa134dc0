/*
 * fuzz_driver.c - runs a libFuzzer harness over the files named on the
 * command line (or in the directories named), without libFuzzer, so each
 * corpus is exercised by every normal test run (libssh's habit).  Exit 0
 * when every input ran.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_path(const char *path, int *count);

static int
run_dir(const char *path, int *count)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[4096];
	int r = 0;

	if (d == NULL) {
		fprintf(stderr, "fuzz_driver: cannot open %s\n", path);
		return 1;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		r = run_path(sub, count);
	}
	closedir(d);
	return r;
}

static int
run_path(const char *path, int *count)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return run_dir(path, count);
	{
		FILE *f = fopen(path, "rb");
		uint8_t *buf = NULL;
		size_t n = 0, cap = 0, k;

		if (f == NULL) {
			fprintf(stderr, "fuzz_driver: cannot open %s\n", path);
			return 1;
		}
		for (;;) {
			if (n == cap) {
				uint8_t *nb;

				cap = cap != 0 ? cap * 2 : 4096;
				if ((nb = realloc(buf, cap)) == NULL) {
					fprintf(stderr, "fuzz_driver: out of memory\n");
					free(buf);
					fclose(f);
					return 1;
				}
				buf = nb;
			}
			if ((k = fread(buf + n, 1, cap - n, f)) == 0)
				break;
			n += k;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		free(buf);
		(*count)++;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int i, count = 0;

	for (i = 1; i < argc; i++)
		if (run_path(argv[i], &count) != 0)
			return 1;
	printf("ran %d input(s)\n", count);
	return count > 0 ? 0 : 1;
}
