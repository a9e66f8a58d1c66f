/*
 * Part of tousu's integration-test harness (deploy/es-launcher). It lives in
 * Elasticsearch's package because the pieces it uses are package-private.
 */
package org.elasticsearch.plugins;

import org.elasticsearch.Build;
import org.elasticsearch.common.settings.Settings;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * A PluginsService whose plugins are classes on the JVM's classpath rather
 * than bundles in the modules and plugins directories, which a node started
 * from Maven Central jars does not have.
 */
public class ClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> classpathPlugins;

    public ClasspathPluginsService(
        Settings settings,
        Path configDir,
        PluginsLoader loader,
        Collection<Class<? extends Plugin>> classes
    ) {
        super(settings, configDir, loader);
        List<LoadedPlugin> loaded = new ArrayList<>();
        for (Class<? extends Plugin> c : classes) {
            Plugin instance = loadPlugin(c, settings, configDir);
            PluginDescriptor descriptor = new PluginDescriptor(
                c.getName(),                    // name
                "classpath plugin",             // description
                Build.current().version(),      // version
                Build.current().version(),      // elasticsearch version
                Integer.toString(Runtime.version().feature()),
                c.getName(),                    // class name
                null,                           // module name: classpath, not modular
                List.of(),                      // extended plugins
                false,                          // native controller
                false,                          // licensed
                false,                          // modular
                false                           // stable
            );
            loaded.add(new LoadedPlugin(descriptor, instance, c.getClassLoader()));
        }
        this.classpathPlugins = List.copyOf(loaded);
    }

    @Override
    protected final List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }
}
