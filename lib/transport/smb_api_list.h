/*
 * smb_api_list.h - the libsmbclient functions smb.c calls, one
 * AP_SMBC_FN(name) each for smbc_<name>; included by smb_api.h and
 * smb_api.c with AP_SMBC_FN defined (an X-macro list).  No include guard:
 * it is meant to be included more than once.
 */
AP_SMBC_FN(new_context)
AP_SMBC_FN(init_context)
AP_SMBC_FN(free_context)
AP_SMBC_FN(setLogCallback)
AP_SMBC_FN(setDebug)
AP_SMBC_FN(setOptionUserData)
AP_SMBC_FN(getOptionUserData)
AP_SMBC_FN(setFunctionAuthDataWithContext)
AP_SMBC_FN(setOptionNoAutoAnonymousLogin)
AP_SMBC_FN(setOptionUseKerberos)
AP_SMBC_FN(setOptionFallbackAfterKerberos)
AP_SMBC_FN(setOptionUseCCache)
AP_SMBC_FN(setOptionSmbEncryptionLevel)
AP_SMBC_FN(setOptionProtocols)
AP_SMBC_FN(setPort)
AP_SMBC_FN(setTimeout)
AP_SMBC_FN(setUser)
AP_SMBC_FN(setWorkgroup)
AP_SMBC_FN(getFunctionOpen)
AP_SMBC_FN(getFunctionWrite)
AP_SMBC_FN(getFunctionClose)
AP_SMBC_FN(getFunctionStat)
AP_SMBC_FN(getFunctionRename)
AP_SMBC_FN(getFunctionOpendir)
AP_SMBC_FN(getFunctionClosedir)
AP_SMBC_FN(getFunctionStatVFS)
