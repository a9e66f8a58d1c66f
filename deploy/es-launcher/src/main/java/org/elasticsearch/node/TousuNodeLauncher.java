/*
 * Part of tousu's integration-test harness (deploy/es-launcher). It lives in
 * Elasticsearch's package because NodeConstruction and NodeServiceProvider
 * are package-private.
 */
package org.elasticsearch.node;

import org.elasticsearch.Build;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.KeyStoreWrapper;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts one Elasticsearch node in this JVM for integration tests.
 *
 * <p>Arguments are settings in the form {@code -Ekey=value}, as for the
 * elasticsearch command; at least {@code path.home} is required. The node
 * is constructed directly, so the bootstrap of the full distribution (root
 * check, bootstrap checks, security manager, entitlements) does not run, and
 * the plugins are the Netty4 transport and the classes named in the system
 * property {@code tousu.es.plugins} (comma-separated, e.g. x-pack core and
 * security, whose jars Maven Central has); the other modules of the
 * distribution (analysis-common, mapper-extras, reindex, rest-root, ...)
 * are not on Maven Central and are absent. The system property
 * {@code tousu.es.bootstrap_password_file} names a file whose first line
 * becomes {@code bootstrap.password} in an in-memory keystore: the password
 * of the built-in user elastic until one is stored. This is a test harness,
 * not a way to run Elasticsearch in production.
 */
public final class TousuNodeLauncher {

    private TousuNodeLauncher() {}

    public static void main(String[] args) throws Exception {
        Settings.Builder builder = Settings.builder();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (arg.startsWith("-E") == false || eq < 3) {
                System.err.println("usage: TousuNodeLauncher -Ekey=value ...; bad argument: " + arg);
                System.exit(2);
            }
            builder.put(arg.substring(2, eq), arg.substring(eq + 1));
        }
        String passwordFile = System.getProperty("tousu.es.bootstrap_password_file", "");
        if (passwordFile.isEmpty() == false) {
            String password = Files.readAllLines(Path.of(passwordFile), StandardCharsets.UTF_8).get(0).strip();
            KeyStoreWrapper keystore = KeyStoreWrapper.create();
            keystore.setString("bootstrap.password", password.toCharArray());
            builder.setSecureSettings(keystore);
        }
        Settings settings = builder.build();
        if (settings.hasValue("path.home") == false) {
            System.err.println("TousuNodeLauncher: -Epath.home=... is required");
            System.exit(2);
        }

        LogConfigurator.configureESLogging();
        LogConfigurator.configureWithoutConfig(settings);

        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "tousu-dev");
        PluginsLoader loader = PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false);
        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        plugins.add(Netty4Plugin.class);
        for (String name : System.getProperty("tousu.es.plugins", "").split(",")) {
            if (name.isBlank() == false) {
                plugins.add(Class.forName(name.strip()).asSubclass(Plugin.class));
            }
        }
        NodeServiceProvider provider = new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment environment, PluginsLoader pluginsLoader) {
                return new ClasspathPluginsService(environment.settings(), environment.configDir(), pluginsLoader, plugins);
            }
        };

        Node node = new Node(NodeConstruction.prepareConstruction(env, loader, provider, true));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "tousu-es-shutdown"));
        node.start();
        System.out.println("tousu-es-launcher: Elasticsearch " + Build.current().version()
            + " (" + Build.current().type().displayName() + ", " + Build.current().hash() + ") started");
        stopped.await();
    }
}
