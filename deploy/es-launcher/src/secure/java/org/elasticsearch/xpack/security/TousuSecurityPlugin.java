/*
 * Part of tousu's integration-test harness (deploy/es-launcher). Compiled
 * only for the es-secure node of deploy/dev/services.sh, against the x-pack
 * jars of Maven Central. It lives in x-pack's package because only plugins
 * there may install the REST interceptor that authenticates requests.
 */
package org.elasticsearch.xpack.security;

import org.elasticsearch.action.ActionRequest;
import org.elasticsearch.action.ActionResponse;
import org.elasticsearch.common.settings.Settings;

import java.util.List;

/**
 * The x-pack security plugin without its SAML actions.
 *
 * <p>Their classes need OpenSAML, which Maven Central does not carry (it is
 * published in Shibboleth's repository only), and the node binds every
 * action at start. Everything else of the plugin runs as in the
 * distribution: TLS on HTTP, the native and file realms, API keys.
 */
public class TousuSecurityPlugin extends Security {

    private static final String SAML_ACTIONS = "org.elasticsearch.xpack.security.action.saml.";

    public TousuSecurityPlugin(Settings settings) {
        super(settings);
    }

    @Override
    public List<ActionHandler<? extends ActionRequest, ? extends ActionResponse>> getActions() {
        return super.getActions().stream().filter(h -> h.getTransportAction().getName().startsWith(SAML_ACTIONS) == false).toList();
    }
}
