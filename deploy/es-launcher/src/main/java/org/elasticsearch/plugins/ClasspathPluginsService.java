/*
 * Part of tousu's integration-test harness (deploy/es-launcher). It lives in
 * Elasticsearch's package because the pieces it uses are package-private.
 */
package org.elasticsearch.plugins;

import org.elasticsearch.Build;
import org.elasticsearch.common.settings.Settings;

import java.lang.reflect.Constructor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.ServiceLoader;

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
        // What the distribution does for an extensible plugin (x-pack core
        // sets its licence state here): its extensions are the providers
        // on the classpath.
        ExtensiblePlugin.ExtensionLoader extensions = new ExtensiblePlugin.ExtensionLoader() {
            @Override
            public <T> List<T> loadExtensions(Class<T> extensionPointType) {
                return new ArrayList<>(loadServiceProviders(extensionPointType));
            }
        };
        for (LoadedPlugin p : classpathPlugins) {
            if (p.instance() instanceof ExtensiblePlugin extensible) {
                extensible.loadExtensions(extensions);
            }
        }
    }

    @Override
    protected final List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }

    /**
     * Makes an instance of type with its constructor that takes one of
     * the plugins (a subclass of the plugin it names will do, unlike in the
     * distribution), or else with the one that takes nothing.
     */
    private Object newExtension(Class<?> type) {
        try {
            for (Constructor<?> c : type.getConstructors()) {
                for (LoadedPlugin p : classpathPlugins) {
                    if (c.getParameterCount() == 1 && c.getParameterTypes()[0].isInstance(p.instance())) {
                        return c.newInstance(p.instance());
                    }
                }
            }
            return type.getConstructor().newInstance();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot make extension " + type.getName(), e);
        }
    }

    /**
     * Finds the providers of service once on the shared classpath (the
     * plugins have no class loaders of their own) and gives each the
     * plugin its constructor asks for, or none.
     */
    @Override
    public <T> List<? extends T> loadServiceProviders(Class<T> service) {
        List<T> result = new ArrayList<>();
        for (ServiceLoader.Provider<T> provider : ServiceLoader.load(service, getClass().getClassLoader()).stream().toList()) {
            result.add(service.cast(newExtension(provider.type())));
        }
        return result;
    }
}
