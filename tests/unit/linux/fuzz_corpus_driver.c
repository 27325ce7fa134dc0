/*
 * fuzz_corpus_driver.c - runs tests/fuzz/fuzz_facts.c's LLVMFuzzerTestOneInput
 * once over every file of the seed corpus, without libFuzzer, so the harness
 * is built and exercised in every normal test run and cannot rot.
 *
 * usage: fuzz_corpus_driver DIR   (default $AP_SOURCE_ROOT/tests/fuzz/corpus/facts)
 * Exits 0 after running at least one file, 1 when none could be read.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	char dir[1024], path[2048];
	const char *root = getenv("AP_SOURCE_ROOT");
	struct dirent *de = NULL;
	DIR *d = NULL;
	FILE *fp = NULL;
	uint8_t *buf = NULL;
	size_t n;
	int ran = 0;

	if (argc > 1)
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	else
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/facts", root != NULL ? root : ".");
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "fuzz_corpus_driver: cannot open %s\n", dir);
		return 1;
	}
	if ((buf = malloc(2 * 1024 * 1024)) == NULL) {
		closedir(d);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((fp = fopen(path, "rb")) == NULL)
			continue;
		n = fread(buf, 1, 2 * 1024 * 1024, fp);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, n);
		ran++;
	}
	closedir(d);
	free(buf);
	printf("fuzz_facts: ran %d corpus inputs from %s\n", ran, dir);
	return ran > 0 ? 0 : 1;
}
