/*-------------------------------------------------------------------------
 *
 * jwt.c
 *	  The client assertion of Entra ID's certificate credential: a JWT
 *	  signed with the application's private key (OpenSSL).
 *
 *	header	{"alg":"PS256","typ":"JWT","x5t#S256":base64url(SHA-256 of the DER
 *			certificate)}; with alg RS256 (legacy) "x5t" = SHA-1 instead
 *	claims	aud = the token endpoint URL, iss = sub = client id, jti = a
 *			random UUID, iat = nbf = now, exp = now + 600 s
 *	PS256 is RSASSA-PSS with SHA-256 and a 32-byte salt; RS256 is PKCS#1 v1.5.
 *
 *-------------------------------------------------------------------------
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kusto_int.h"

/* base64url without padding, kusto_malloc'd */
char *
kusto_base64url(const unsigned char *data, size_t len)
{
	char	   *out = kusto_malloc(4 * ((len + 2) / 3) + 1);
	int			n = EVP_EncodeBlock((unsigned char *) out, data, (int) len);
	int			i;

	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++)
	{
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

static char *
b64url_string(const char *s)
{
	return kusto_base64url((const unsigned char *) s, strlen(s));
}

char *
kusto_jwt_client_assertion(const char *cert_file, const char *key_file, bool rs256,
						   const char *client_id, const char *audience, kusto_error *err)
{
	FILE	   *f;
	X509	   *cert = NULL;
	EVP_PKEY   *key = NULL;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char thumb[EVP_MAX_MD_SIZE];
	unsigned int thumb_len = 0;
	unsigned char sig[1024];
	size_t		sig_len = sizeof(sig);
	unsigned char rnd[16];
	char		jti[40];
	char	   *x5t = NULL;
	char	   *header_b64 = NULL;
	char	   *claims_b64 = NULL;
	char	   *signing_input = NULL;
	char	   *sig_b64 = NULL;
	char	   *jwt = NULL;
	char	   *text;
	json_t	   *obj;
	time_t		now = time(NULL);
	size_t		n;

	if ((f = fopen(cert_file, "r")) == NULL || (cert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
	{
		kusto_error_set(err, KUSTO_ERR_AUTH, 0, "Certificate",
						"could not read a PEM certificate from \"%s\"", cert_file);
		goto done;
	}
	fclose(f);
	f = NULL;
	if ((f = fopen(key_file, "r")) == NULL || (key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
	{
		kusto_error_set(err, KUSTO_ERR_AUTH, 0, "Certificate",
						"could not read a PEM private key from \"%s\"", key_file);
		goto done;
	}
	fclose(f);
	f = NULL;
	if (X509_check_private_key(cert, key) != 1)
	{
		kusto_error_set(err, KUSTO_ERR_AUTH, 0, "Certificate",
						"the private key in \"%s\" does not belong to the certificate in \"%s\"",
						key_file, cert_file);
		goto done;
	}

	X509_digest(cert, rs256 ? EVP_sha1() : EVP_sha256(), thumb, &thumb_len);
	x5t = kusto_base64url(thumb, thumb_len);
	obj = json_pack("{s:s, s:s, s:s}", "alg", rs256 ? "RS256" : "PS256", "typ", "JWT",
					rs256 ? "x5t" : "x5t#S256", x5t);
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	header_b64 = b64url_string(text);
	kusto_free(text);

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	rnd[6] = (rnd[6] & 0x0f) | 0x40;
	rnd[8] = (rnd[8] & 0x3f) | 0x80;
	snprintf(jti, sizeof(jti), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9],
			 rnd[10], rnd[11], rnd[12], rnd[13], rnd[14], rnd[15]);
	obj = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "aud", audience, "iss", client_id,
					"sub", client_id, "jti", jti, "iat", (json_int_t) now, "nbf", (json_int_t) now,
					"exp", (json_int_t) (now + 600));
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	claims_b64 = b64url_string(text);
	kusto_free(text);

	n = strlen(header_b64) + strlen(claims_b64) + 2;
	signing_input = kusto_malloc(n);
	snprintf(signing_input, n, "%s.%s", header_b64, claims_b64);

	md = EVP_MD_CTX_new();
	if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1 ||
		(!rs256 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
					EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1)) ||
		EVP_DigestSign(md, sig, &sig_len, (const unsigned char *) signing_input, strlen(signing_input)) != 1)
	{
		kusto_error_set(err, KUSTO_ERR_AUTH, 0, "Certificate",
						"could not sign the client assertion with the key in \"%s\" (an RSA key is needed)",
						key_file);
		goto done;
	}
	sig_b64 = kusto_base64url(sig, sig_len);
	n = strlen(signing_input) + strlen(sig_b64) + 2;
	jwt = kusto_malloc(n);
	snprintf(jwt, n, "%s.%s", signing_input, sig_b64);

done:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	X509_free(cert);
	kusto_free(x5t);
	kusto_free(header_b64);
	kusto_free(claims_b64);
	kusto_free(signing_input);
	kusto_free(sig_b64);
	return jwt;
}
