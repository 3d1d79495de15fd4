/* test_pki.h: a test PKI made in the test itself, as deploy/certs.sh makes one (shared by
 * test_tls_transport.c and test_client.c): a P-256 CA in a fresh directory under /tmp, and
 * certificates it signs with a subjectAltName of the caller's (callraft:node:N, callraft:role:R,
 * IP:...), each written as NAME.crt and NAME.key beside ca.crt. Every function fails the test
 * (cmocka) on any error. Include it after cmocka.h, tls.h and OpenSSL's pem.h, ssl.h and x509v3.h.
 *
 * Life: pki_init, pki_issue as needed, pki_ctx for a node's TLS context, pki_release (removes the
 * files and the directory, frees the CA). */
#ifndef CALLRAFT_TESTS_TEST_PKI_H
#define CALLRAFT_TESTS_TEST_PKI_H

#define TEST_PKI_ISSUED_MAX 8

struct test_pki {
	char dir[64];
	EVP_PKEY *ca_key;
	X509 *ca; /* NULL while the CA itself is being made */
	unsigned serial;
	char issued[TEST_PKI_ISSUED_MAX][16]; /* the names pki_issue wrote, for pki_release */
	unsigned n_issued;
};

static void pki_cert_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for `key` valid from a minute ago for `valid_s` seconds, signed by the test CA
 * (or self-signed, the CA itself, when pki->ca is NULL). The caller frees it. */
static X509 *pki_cert_make(struct test_pki *pki, EVP_PKEY *key, const char *cn, const char *san,
			   long valid_s)
{
	X509 *x = X509_new();
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ++pki->serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), valid_s);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(pki->ca != NULL ? pki->ca : x));
	if (pki->ca == NULL) {
		pki_cert_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
		pki_cert_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		pki_cert_ext(x, pki->ca, NID_basic_constraints, "critical,CA:FALSE");
		pki_cert_ext(x, pki->ca, NID_key_usage, "critical,digitalSignature");
		pki_cert_ext(x, pki->ca, NID_ext_key_usage, "serverAuth,clientAuth");
		pki_cert_ext(x, pki->ca, NID_subject_alt_name, san);
	}
	assert_true(X509_sign(x, pki->ca_key != NULL ? pki->ca_key : key, EVP_sha256()) > 0);
	return x;
}

/* Writes the certificate x, or (x NULL) the private key, to path in PEM. */
static void pki_pem_write(const char *path, X509 *x, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(x != NULL ? PEM_write_X509(f, x)
				   : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL),
			 1);
	fclose(f);
}

/* The path of the PKI's file NAME.EXT (ext "crt" or "key") in buf. */
static void pki_path(const struct test_pki *pki, const char *name, const char *ext, char *buf,
		     size_t len)
{
	int n = snprintf(buf, len, "%s/%s.%s", pki->dir, name, ext);
	assert_true(n > 0 && (size_t)n < len);
}

/* A new key and a certificate for NAME with subjectAltName `san`, valid for `valid_s` seconds,
 * written as NAME.crt and NAME.key. */
static void pki_issue(struct test_pki *pki, const char *name, const char *san, long valid_s)
{
	char path[128];
	assert_true(pki->n_issued < TEST_PKI_ISSUED_MAX);
	assert_true(strlen(name) < sizeof pki->issued[0]);
	EVP_PKEY *key = EVP_EC_gen("P-256");
	assert_non_null(key);
	X509 *x = pki_cert_make(pki, key, name, san, valid_s);
	pki_path(pki, name, "crt", path, sizeof path);
	pki_pem_write(path, x, NULL);
	pki_path(pki, name, "key", path, sizeof path);
	pki_pem_write(path, NULL, key);
	snprintf(pki->issued[pki->n_issued++], sizeof pki->issued[0], "%s", name);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* A CA valid for an hour in a fresh directory /tmp/PREFIX.XXXXXX, written as ca.crt. */
static void pki_init(struct test_pki *pki, const char *prefix)
{
	char path[128];
	memset(pki, 0, sizeof *pki);
	assert_true((size_t)snprintf(pki->dir, sizeof pki->dir, "/tmp/%s.XXXXXX", prefix) <
		    sizeof pki->dir);
	assert_non_null(mkdtemp(pki->dir));
	pki->ca_key = EVP_EC_gen("P-256");
	assert_non_null(pki->ca_key);
	pki->ca = pki_cert_make(pki, pki->ca_key, "test CA", NULL, 3600);
	pki_path(pki, "ca", "crt", path, sizeof path);
	pki_pem_write(path, pki->ca, NULL);
}

/* NAME's TLS context as callraftd makes it (tls_ctx_new): the CA, NAME.crt and NAME.key. The
 * caller frees it (SSL_CTX_free). */
static SSL_CTX *pki_ctx(const struct test_pki *pki, const char *name)
{
	struct tls_files f;
	char errmsg[512];
	pki_path(pki, "ca", "crt", f.ca, sizeof f.ca);
	pki_path(pki, name, "crt", f.cert, sizeof f.cert);
	pki_path(pki, name, "key", f.key, sizeof f.key);
	SSL_CTX *ctx = tls_ctx_new(&f, errmsg, sizeof errmsg);
	if (ctx == NULL)
		fail_msg("%s", errmsg);
	return ctx;
}

/* Removes every file pki_init and pki_issue wrote and the directory; frees the CA. */
static void pki_release(struct test_pki *pki)
{
	char path[128];
	for (unsigned i = 0; i < pki->n_issued; i++) {
		pki_path(pki, pki->issued[i], "crt", path, sizeof path);
		unlink(path);
		pki_path(pki, pki->issued[i], "key", path, sizeof path);
		unlink(path);
	}
	pki_path(pki, "ca", "crt", path, sizeof path);
	unlink(path);
	assert_int_equal(rmdir(pki->dir), 0);
	X509_free(pki->ca);
	EVP_PKEY_free(pki->ca_key);
	memset(pki, 0, sizeof *pki);
}

#endif
